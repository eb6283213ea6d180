/* protobuf-c messages in and out of grpc core byte buffers: the one copy
 * the control plane's server, its etcd client, the client and the load
 * client share (library rvgrpcpb: needs grpc, unlike libroomvpn). */
#ifndef RV_GRPC_PB_H
#define RV_GRPC_PB_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

/* @m packed into a new byte buffer (grpc_byte_buffer_destroy it). */
grpc_byte_buffer *rv_grpc_pb_pack(const ProtobufCMessage *m);
/* @bb unpacked as @d (protobuf_c_message_free_unpacked it), or NULL when
 * @bb is NULL or not a valid message. */
ProtobufCMessage *rv_grpc_pb_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d);

#endif

/* protobuf-c <-> grpc byte buffers (grpc_pb.h). */
#include "grpc_pb.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

grpc_byte_buffer *rv_grpc_pb_pack(const ProtobufCMessage *m)
{
	grpc_slice s = grpc_slice_malloc(protobuf_c_message_get_packed_size(m));
	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

ProtobufCMessage *rv_grpc_pb_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d)
{
	grpc_byte_buffer_reader r;

	if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	grpc_slice s = grpc_byte_buffer_reader_readall(&r);
	ProtobufCMessage *m =
	    protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	grpc_byte_buffer_reader_destroy(&r);
	return m;
}

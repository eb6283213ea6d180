/* Fuzz the agent protocol as the data plane's agent reads it (rvagent,
 * shared/agent/): a byte stream cut into 4-byte-length-prefixed messages by
 * the incremental reader (fed in chunks whose size the first input byte
 * picks), each body decoded as a Request and put through the stateless
 * checks the agent runs before touching its tables. A bad length must end
 * the stream with an error, never a crash or an over-read. */
#include <string.h>

#include "agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = data[0] ? data[0] : 1;
	struct rv_agent_reader r;
	char err[256];
	rv_agent_reader_init(&r);
	data++;
	size--;
	while (size) {
		size_t chunk = size < step ? size : step, used = 0;
		enum rv_agent_feed f =
		    rv_agent_reader_feed(&r, data, chunk, &used, err, sizeof(err));
		if (used > chunk)
			__builtin_trap();
		data += used;
		size -= used;
		if (f == RV_AGENT_FEED_ERR)
			break;
		if (f == RV_AGENT_FEED_MSG) {
			Roomvpn__Dataplane__V1__Request *rq =
			    roomvpn__dataplane__v1__request__unpack(NULL, r.len, r.body);
			if (rq) {
				rv_agent_check_request(rq, err, sizeof(err));
				roomvpn__dataplane__v1__request__free_unpacked(rq, NULL);
			}
			rv_agent_reader_reset(&r);
		} else if (!used) {
			break;
		}
	}
	rv_agent_reader_reset(&r);
	return 0;
}

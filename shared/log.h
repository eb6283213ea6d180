/* Leveled logging to stderr. rv_log_ratelimited() is for the data path. */
#ifndef RV_LOG_H
#define RV_LOG_H

/* NOTICE: normal but significant (a process starts or stops, a port's link
 * changes); INFO: routine events (a tunnel connects or ends). */
enum rv_log_level { RV_LOG_ERROR = 0, RV_LOG_WARN, RV_LOG_NOTICE, RV_LOG_INFO, RV_LOG_DEBUG };

void rv_log_set_level(enum rv_log_level l);
int rv_log_parse_level(const char *name, enum rv_log_level *out);
void rv_log(enum rv_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* At most one message per second per call site. */
#define rv_log_ratelimited(l, ...)                                                                 \
	do {                                                                                       \
		static __thread long rv__last_;                                                    \
		if (rv_log_allow_(&rv__last_))                                                     \
			rv_log(l, __VA_ARGS__);                                                    \
	} while (0)
int rv_log_allow_(long *last_s);

#endif

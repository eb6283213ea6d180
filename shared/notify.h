/* Service manager notifications (sd_notify): readiness, reload, stop, status
 * line. Without systemd (NOTIFY_SOCKET unset) every call does nothing. */
#ifndef RV_NOTIFY_H
#define RV_NOTIFY_H

/* READY=1 with a STATUS= line. */
void rv_notify_ready(const char *status);
/* RELOADING=1 before re-reading the configuration; rv_notify_ready() after. */
void rv_notify_reloading(void);
/* STOPPING=1: shutdown has begun. */
void rv_notify_stopping(void);
/* STATUS=..., shown by systemctl status. */
void rv_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

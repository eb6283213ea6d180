/* sd_notify wrappers (see notify.h). Failures are ignored: a lost
 * notification shows up as a start timeout in systemd, not as an error here. */
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

void rv_notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void rv_notify_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

void rv_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void rv_notify_status(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", line);
}

/* Online backup and restore of a control plane's state (docs/operations.md).
 *
 * A backup directory holds db/ (a RocksDB checkpoint), tls/server.crt and
 * tls/server.key (the certificate clients pin) and BACKUP (schema version,
 * time). The running server holds the store's lock, so it takes the backup
 * itself: `roomvpn-control backup DIR` asks it over the unix socket
 * <state_dir>/backup.sock (0600, in the 0700 state directory, peer uid
 * checked); with no server running, the command opens the store itself. */
#ifndef RV_BACKUP_H
#define RV_BACKUP_H

#include <stddef.h>

#include "control.h"

/* Server side: listen on <state_dir>/backup.sock in a thread of its own.
 * Returns 0 or -1 with a message in @err. */
int rv_backup_listen_start(struct rv_control *ctl, char *err, size_t errlen);
void rv_backup_listen_stop(void);

/* Write a backup of @store (and the TLS files @cfg names) into @dir, which
 * must not exist yet. Returns 0 or -1 with a message in @err. */
int rv_backup_take(struct rv_store *store, const struct rv_control_config *cfg, const char *dir,
		   char *err, size_t errlen);

/* Client side: ask the server running on @cfg's state_dir for a backup into
 * @dir. Returns 0, 1 if no server listens there, -1 with a message. */
int rv_backup_request(const struct rv_control_config *cfg, const char *dir, char *err,
		      size_t errlen);

/* Copy the backup in @dir into @cfg's state_dir, which must hold no store
 * yet; then open the restored store once (schema check). 0 or -1. */
int rv_backup_restore(const struct rv_control_config *cfg, const char *dir, char *err,
		      size_t errlen);

#endif

/* Every method of every service, with the scope it needs (scope.c enforces
 * it before the handler runs) and its audit action (mutations and logins). */
#include "methods.h"

#include "auth.h"
#include "devices.h"
#include "grpc/health/v1/health.pb-c.h"
#include "health.h"
#include "roomvpn/v1/auth.pb-c.h"
#include "roomvpn/v1/health.pb-c.h"
#include "roomvpn/v1/users.pb-c.h"
#include "users.h"
#include "roomvpn/v1/rooms.pb-c.h"
#include "room_rules.h"
#include "rooms.h"
#include "bans.h"
#include "invites.h"
#include "tunnel.h"
#include "keepalive.h"
#include "audit.h"
#include "roomvpn/v1/audit.pb-c.h"
#include "fleet_rpc.h"
#include "roomvpn/v1/fleet.pb-c.h"

#define AUTH  "/roomvpn.v1.AuthService/"
#define USERS "/roomvpn.v1.UserService/"

#define ROW(path_, scope_, desc_, fn_, ...)                                                        \
	{                                                                                          \
		.path = (path_), .scope = (scope_), .req_desc = (desc_), .handler = (fn_),         \
		__VA_ARGS__                                                                        \
	}

const struct rv_method rv_methods[] = {
    ROW(AUTH "Login", RV_SCOPE_PUBLIC, &roomvpn__v1__login_request__descriptor, rv_auth_login_rpc,
	.audit_action = "auth.login"),
    ROW(AUTH "RegisterWithInvite", RV_SCOPE_PUBLIC,
	&roomvpn__v1__register_with_invite_request__descriptor, rv_invites_register_rpc,
	.audit_action = "auth.register"),
    ROW(AUTH "Refresh", RV_SCOPE_PUBLIC, &roomvpn__v1__refresh_request__descriptor,
	rv_auth_refresh_rpc, .audit_action = "auth.refresh"),
    ROW(AUTH "Logout", RV_SCOPE_USER, &roomvpn__v1__logout_request__descriptor, rv_auth_logout_rpc,
	.audit_action = "auth.logout"),
    ROW(AUTH "ChangePassword", RV_SCOPE_USER, &roomvpn__v1__change_password_request__descriptor,
	rv_devices_passwd_rpc, .audit_action = "auth.passwd"),
    ROW(AUTH "ListDevices", RV_SCOPE_USER, &roomvpn__v1__list_devices_request__descriptor,
	rv_devices_list_rpc),
    ROW(AUTH "RenameDevice", RV_SCOPE_USER, &roomvpn__v1__rename_device_request__descriptor,
	rv_devices_rename_rpc, .audit_action = "auth.device_rename"),
    ROW(AUTH "RevokeDevice", RV_SCOPE_USER, &roomvpn__v1__revoke_device_request__descriptor,
	rv_devices_revoke_rpc, .audit_action = "auth.device_revoke"),

    ROW(USERS "Create", RV_SCOPE_ADMIN, &roomvpn__v1__create_user_request__descriptor,
	rv_users_create_rpc, .audit_action = "users.create"),
    ROW(USERS "Get", RV_SCOPE_ADMIN, &roomvpn__v1__get_user_request__descriptor, rv_users_get_rpc),
    ROW(USERS "List", RV_SCOPE_ADMIN, &roomvpn__v1__list_users_request__descriptor,
	rv_users_list_rpc),
    ROW(USERS "Update", RV_SCOPE_ADMIN, &roomvpn__v1__update_user_request__descriptor,
	rv_users_update_rpc, .audit_action = "users.update"),
    ROW(USERS "Delete", RV_SCOPE_ADMIN, &roomvpn__v1__delete_user_request__descriptor,
	rv_users_delete_rpc, .audit_action = "users.delete"),

    ROW("/roomvpn.v1.HealthService/Get", RV_SCOPE_USER, &roomvpn__v1__health_request__descriptor,
	rv_health_get_rpc),
    ROW("/grpc.health.v1.Health/Check", RV_SCOPE_PUBLIC,
	&grpc__health__v1__health_check_request__descriptor, rv_health_check_rpc),
    ROW("/grpc.health.v1.Health/Watch", RV_SCOPE_PUBLIC,
	&grpc__health__v1__health_check_request__descriptor, NULL, .stream = &rv_health_watch_ops),

#define ROOMS "/roomvpn.v1.RoomService/"
    ROW(ROOMS "Create", RV_SCOPE_USER, &roomvpn__v1__create_room_request__descriptor,
	rv_rooms_create_rpc, .audit_action = "rooms.create"),
    ROW(ROOMS "Update", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__update_room_request__descriptor,
	rv_rooms_update_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.update"),
    ROW(ROOMS "Delete", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__delete_room_request__descriptor,
	rv_rooms_delete_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.delete"),
    ROW(ROOMS "Get", RV_SCOPE_USER, &roomvpn__v1__get_room_request__descriptor, rv_rooms_get_rpc),
    ROW(ROOMS "List", RV_SCOPE_USER, &roomvpn__v1__list_rooms_request__descriptor,
	rv_rooms_list_rpc),
    ROW(ROOMS "Join", RV_SCOPE_USER, &roomvpn__v1__join_room_request__descriptor, rv_rooms_join_rpc,
	.audit_action = "rooms.join", .prefetch = rv_members_join_prefetch),
    ROW(ROOMS "Leave", RV_SCOPE_USER, &roomvpn__v1__leave_room_request__descriptor,
	rv_rooms_leave_rpc, .audit_action = "rooms.leave"),
    /* the owner, an admin or a member of the room: checked by the handler */
    ROW(ROOMS "ListMembers", RV_SCOPE_USER, &roomvpn__v1__list_members_request__descriptor,
	rv_rooms_list_members_rpc),
    ROW(ROOMS "Kick", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__kick_request__descriptor,
	rv_rooms_kick_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.kick"),
    ROW(ROOMS "CreateInvite", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__create_invite_request__descriptor,
	rv_invites_create_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.invite"),
    ROW(ROOMS "ListInvites", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__list_invites_request__descriptor,
	rv_invites_list_rpc, .room_of = rv_rooms_room_of),
    ROW(ROOMS "RevokeInvite", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__revoke_invite_request__descriptor,
	rv_invites_revoke_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.invite_revoke"),
    ROW(ROOMS "JoinInvite", RV_SCOPE_USER, &roomvpn__v1__join_invite_request__descriptor,
	rv_invites_join_rpc, .audit_action = "rooms.join_invite"),
    ROW(ROOMS "Ban", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__ban_request__descriptor, rv_bans_ban_rpc,
	.room_of = rv_rooms_room_of, .audit_action = "rooms.ban"),
    ROW(ROOMS "Unban", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__unban_request__descriptor,
	rv_bans_unban_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.unban"),
    ROW(ROOMS "ListBans", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__list_bans_request__descriptor,
	rv_bans_list_rpc, .room_of = rv_rooms_room_of),
    ROW(ROOMS "SetRules", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__set_room_rules_request__descriptor,
	rv_rooms_set_rules_rpc, .room_of = rv_rooms_room_of, .audit_action = "rooms.rules"),
    ROW(ROOMS "GetRules", RV_SCOPE_ROOM_OWNER, &roomvpn__v1__get_room_rules_request__descriptor,
	rv_rooms_get_rules_rpc, .room_of = rv_rooms_room_of),

    ROW("/roomvpn.v1.TunnelService/Bootstrap", RV_SCOPE_USER,
	&roomvpn__v1__bootstrap_request__descriptor, NULL, .stream = &rv_tunnel_bootstrap_ops,
	.audit_action = "tunnel.bootstrap"),
    ROW("/roomvpn.v1.TunnelService/End", RV_SCOPE_USER,
	&roomvpn__v1__end_tunnel_request__descriptor, rv_tunnel_end_rpc,
	.audit_action = "tunnel.end"),
    ROW("/roomvpn.v1.SessionService/Keepalive", RV_SCOPE_USER,
	&roomvpn__v1__keepalive_request__descriptor, NULL, .stream = &rv_keepalive_ops),

    ROW("/roomvpn.v1.AuditService/List", RV_SCOPE_ADMIN,
	&roomvpn__v1__list_audit_request__descriptor, rv_audit_list_rpc),

#define FLEET "/roomvpn.v1.FleetService/"
    ROW(FLEET "List", RV_SCOPE_ADMIN, &roomvpn__v1__list_dataplanes_request__descriptor,
	rv_fleet_list_rpc),
    ROW(FLEET "Drain", RV_SCOPE_ADMIN, &roomvpn__v1__drain_dataplane_request__descriptor,
	rv_fleet_drain_rpc, .audit_action = "fleet.drain"),
    ROW(FLEET "Undrain", RV_SCOPE_ADMIN, &roomvpn__v1__drain_dataplane_request__descriptor,
	rv_fleet_undrain_rpc, .audit_action = "fleet.undrain"),
};

const size_t rv_methods_count = sizeof(rv_methods) / sizeof(rv_methods[0]);

"""Issue 18 over TLS (harness.py): room invitations (create, use, expiry,
revocation, uses exhausted, codes stored hashed), bans (kick at once, Join
and JoinInvite refused until Unban), all audited; self-service password
change (other devices revoked) and device list/rename/revoke."""
import glob
import os
import time
import unittest

import grpc

from harness import ControlServer, pb, rpc_error

rooms = pb("rooms")
auth = pb("auth")
audit = pb("audit")
common = pb("common")

R = "/roomvpn.v1.RoomService/"
ST = grpc.StatusCode


class Rooms18Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer()
        cls.srv.start()
        cls.owner = cls.srv.user_token("owner18")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def call(self, method, req, resp_cls, token):
        return self.srv.call(R + method, req, resp_cls, token)

    def create_room(self, name, **kw):
        return self.call("Create", rooms.CreateRoomRequest(name=name, **kw), rooms.Room, self.owner)

    def invite(self, room, token=None, **kw):
        return self.call("CreateInvite", rooms.CreateInviteRequest(room=room, **kw), rooms.CreatedInvite,
                         token or self.owner)

    def use(self, code, token):
        return self.call("JoinInvite", rooms.JoinInviteRequest(code=code), rooms.JoinRoomResponse, token)

    def members(self, room):
        resp = self.call("ListMembers", rooms.ListMembersRequest(room=room), rooms.ListMembersResponse,
                         self.owner)
        return sorted(m.username for m in resp.members)

    def audit_actions(self, action):
        out, page = [], ""
        while True:
            resp = self.srv.call("/roomvpn.v1.AuditService/List",
                                 audit.ListAuditRequest(action=action, page_token=page),
                                 audit.ListAuditResponse, self.srv.admin_token())
            out += [(r.target, r.status) for r in resp.records]
            page = resp.next_page_token
            if not page:
                return out

    # ---- invitations -------------------------------------------------------
    def test_invite_single_use_bypasses_room_password(self):
        self.create_room("inv-one", password="room-password-1")
        inv = self.invite("inv-one")
        self.assertTrue(inv.code.startswith("rvi_") and len(inv.code) == 4 + 43, inv.code)
        self.assertEqual((inv.invite.max_uses, inv.invite.uses), (1, 0))
        guest = self.srv.user_token("guest-one")
        j = self.use(inv.code, guest)
        self.assertEqual(j.room.name, "inv-one")
        self.assertIn("guest-one", self.members("inv-one"))
        second = self.srv.user_token("guest-two")
        e = rpc_error(self.use, inv.code, second)
        self.assertEqual(e.code(), ST.FAILED_PRECONDITION, e.details())
        self.assertIn("used 1 time", e.details())
        self.assertNotIn("guest-two", self.members("inv-one"))
        listed = self.call("ListInvites", rooms.ListInvitesRequest(room="inv-one"), rooms.ListInvitesResponse,
                           self.owner).invites
        self.assertEqual([(i.id, i.uses) for i in listed], [(inv.invite.id, 1)])
        self.assertIn(("inv-one/invite/%d" % inv.invite.id, 0), self.audit_actions("rooms.join_invite"))
        self.assertIn(("inv-one/invite/%d" % inv.invite.id, 0), self.audit_actions("rooms.invite"))

    def test_invite_multi_use_and_revoke(self):
        self.create_room("inv-multi")
        inv = self.invite("inv-multi", max_uses=2)
        a, b, c = (self.srv.user_token("multi-%s" % n) for n in "abc")
        self.use(inv.code, a)
        self.use(inv.code, b)
        e = rpc_error(self.use, inv.code, c)
        self.assertEqual(e.code(), ST.FAILED_PRECONDITION)
        inv2 = self.invite("inv-multi", max_uses=5)
        self.call("RevokeInvite", rooms.RevokeInviteRequest(room="inv-multi", id=inv2.invite.id), common.Empty,
                  self.owner)
        e = rpc_error(self.use, inv2.code, c)
        self.assertEqual(e.code(), ST.NOT_FOUND, e.details())
        listed = self.call("ListInvites", rooms.ListInvitesRequest(room="inv-multi"), rooms.ListInvitesResponse,
                           self.owner).invites
        self.assertEqual([(i.uses, i.revoked) for i in listed], [(2, False), (0, True)])
        self.assertEqual(self.members("inv-multi"), ["multi-a", "multi-b"])

    def test_invites_per_room_bounded(self):
        self.create_room("inv-cap")
        first = self.invite("inv-cap")
        for _ in range(999):
            self.invite("inv-cap")
        e = rpc_error(self.invite, "inv-cap")
        self.assertEqual(e.code(), ST.RESOURCE_EXHAUSTED, e.details())
        # a revoked one is pruned at the cap: room for a new one
        self.call("RevokeInvite", rooms.RevokeInviteRequest(room="inv-cap", id=first.invite.id), common.Empty,
                  self.owner)
        self.invite("inv-cap")
        e = rpc_error(self.invite, "inv-cap")
        self.assertEqual(e.code(), ST.RESOURCE_EXHAUSTED, e.details())

    def test_invite_expires(self):
        self.create_room("inv-exp")
        inv = self.invite("inv-exp", max_uses=10000, expires_s=1)
        self.assertLessEqual(inv.invite.expires_unix - inv.invite.created_unix, 1)
        guest = self.srv.user_token("guest-exp")
        # uses are fine until the expiry; wait for the refusal, then check its reason
        refused = None
        while refused is None:
            try:
                self.use(inv.code, guest)
                time.sleep(0.05)
            except grpc.RpcError as e:
                refused = e
        self.assertEqual(refused.code(), ST.FAILED_PRECONDITION, refused.details())
        self.assertIn("expired", refused.details())

    def test_invite_scope_and_bad_codes(self):
        self.create_room("inv-scope")
        other = self.srv.user_token("not-owner")
        e = rpc_error(self.invite, "inv-scope", other)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        e = rpc_error(self.call, "ListInvites", rooms.ListInvitesRequest(room="inv-scope"),
                      rooms.ListInvitesResponse, other)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        self.assertEqual(rpc_error(self.use, "rvi_" + "A" * 43, other).code(), ST.NOT_FOUND)
        self.assertEqual(rpc_error(self.use, "", other).code(), ST.INVALID_ARGUMENT)
        e = rpc_error(self.invite, "inv-scope", max_uses=10001)
        self.assertEqual(e.code(), ST.INVALID_ARGUMENT)

    def test_invite_code_stored_hashed(self):
        self.create_room("inv-hash")
        code = self.invite("inv-hash").code
        blob = b""
        for f in glob.glob(os.path.join(self.srv.state_dir, "db", "*")):
            if os.path.isfile(f):
                with open(f, "rb") as fh:
                    blob += fh.read()
        self.assertIn(b"inv/", blob)  # the invite is in these files...
        self.assertNotIn(code.encode(), blob)  # ...its code is not

    # ---- bans ----------------------------------------------------------------
    def test_ban_user_kicks_and_blocks_until_unban(self):
        self.create_room("ban-room")
        victim = self.srv.user_token("victim")
        self.call("Join", rooms.JoinRoomRequest(room="ban-room"), rooms.JoinRoomResponse, victim)
        inv = self.invite("ban-room", max_uses=10)
        self.call("Ban", rooms.BanRequest(room="ban-room", username="victim"), common.Empty, self.owner)
        self.assertNotIn("victim", self.members("ban-room"))
        e = rpc_error(self.call, "Join", rooms.JoinRoomRequest(room="ban-room"), rooms.JoinRoomResponse, victim)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        self.assertIn("banned", e.details())
        e = rpc_error(self.use, inv.code, victim)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        bans = self.call("ListBans", rooms.ListBansRequest(room="ban-room"), rooms.ListBansResponse,
                         self.owner).bans
        self.assertEqual([(b.username, b.created_by) for b in bans], [("victim", "owner18")])
        self.call("Unban", rooms.UnbanRequest(room="ban-room", username="victim"), common.Empty, self.owner)
        self.call("Join", rooms.JoinRoomRequest(room="ban-room"), rooms.JoinRoomResponse, victim)
        self.assertIn("victim", self.members("ban-room"))
        self.assertIn(("ban-room/user/victim", 0), self.audit_actions("rooms.ban"))
        self.assertIn(("ban-room/user/victim", 0), self.audit_actions("rooms.unban"))

    def test_ban_device(self):
        self.create_room("ban-dev")
        self.srv.user_token("two-devices")
        s1 = self.srv.login("two-devices", "user-password-1", "laptop")
        s2 = self.srv.login("two-devices", "user-password-1", "phone")
        self.call("Join", rooms.JoinRoomRequest(room="ban-dev"), rooms.JoinRoomResponse, s1.session_token)
        self.call("Ban", rooms.BanRequest(room="ban-dev", device_id=s1.device_id), common.Empty, self.owner)
        e = rpc_error(self.call, "Join", rooms.JoinRoomRequest(room="ban-dev"), rooms.JoinRoomResponse,
                      s1.session_token)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        self.call("Join", rooms.JoinRoomRequest(room="ban-dev"), rooms.JoinRoomResponse, s2.session_token)
        resp = self.call("ListMembers", rooms.ListMembersRequest(room="ban-dev"), rooms.ListMembersResponse,
                         self.owner)
        self.assertEqual([m.device_id for m in resp.members], [s2.device_id])

    def test_ban_scope_and_arguments(self):
        self.create_room("ban-scope")
        other = self.srv.user_token("ban-outsider")
        e = rpc_error(self.call, "Ban", rooms.BanRequest(room="ban-scope", username="victim"), common.Empty, other)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        e = rpc_error(self.call, "Ban", rooms.BanRequest(room="ban-scope"), common.Empty, self.owner)
        self.assertEqual(e.code(), ST.INVALID_ARGUMENT)
        e = rpc_error(self.call, "Ban", rooms.BanRequest(room="ban-scope", username="owner18"), common.Empty,
                      self.owner)
        self.assertEqual(e.code(), ST.FAILED_PRECONDITION)
        e = rpc_error(self.call, "Unban", rooms.UnbanRequest(room="ban-scope", username="ban-outsider"),
                      common.Empty, self.owner)
        self.assertEqual(e.code(), ST.NOT_FOUND)


class SelfServiceTest(unittest.TestCase):
    A = "/roomvpn.v1.AuthService/"

    @classmethod
    def setUpClass(cls):
        cls.srv = ControlServer()
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def call(self, method, req, resp_cls, token):
        return self.srv.call(self.A + method, req, resp_cls, token)

    def devices(self, token):
        return self.call("ListDevices", auth.ListDevicesRequest(), auth.ListDevicesResponse, token).devices

    def alive(self, token):
        try:
            self.devices(token)
            return True
        except grpc.RpcError as e:
            self.assertEqual(e.code(), ST.UNAUTHENTICATED, e.details())
            return False

    def test_change_password_revokes_other_devices(self):
        self.srv.create_user("pw-user", "old-password-1")
        keep = self.srv.login("pw-user", "old-password-1", "keep")
        other = self.srv.login("pw-user", "old-password-1", "other")
        bystander = self.srv.user_token("pw-bystander")
        e = rpc_error(self.call, "ChangePassword",
                      auth.ChangePasswordRequest(old_password="wrong-password", new_password="new-password-1"),
                      common.Empty, keep.session_token)
        self.assertEqual(e.code(), ST.PERMISSION_DENIED)
        self.assertTrue(self.alive(other.session_token))
        self.call("ChangePassword",
                  auth.ChangePasswordRequest(old_password="old-password-1", new_password="new-password-1"),
                  common.Empty, keep.session_token)
        self.assertTrue(self.alive(keep.session_token))
        self.assertFalse(self.alive(other.session_token))
        e = rpc_error(self.srv.call, self.A + "Refresh", auth.RefreshRequest(device_token=other.device_token),
                      auth.Session)
        self.assertEqual(e.code(), ST.UNAUTHENTICATED)
        self.assertTrue(self.alive(bystander))
        self.assertEqual(rpc_error(self.srv.login, "pw-user", "old-password-1").code(), ST.UNAUTHENTICATED)
        self.srv.login("pw-user", "new-password-1")

    def test_devices_list_rename_revoke(self):
        self.srv.create_user("dev-user", "user-password-1")
        a = self.srv.login("dev-user", "user-password-1", "laptop")
        b = self.srv.login("dev-user", "user-password-1", "phone")
        devs = self.devices(a.session_token)
        self.assertEqual([(d.id, d.name, d.current) for d in devs],
                         [(a.device_id, "laptop", True), (b.device_id, "phone", False)])
        d = self.call("RenameDevice", auth.RenameDeviceRequest(device_id=b.device_id, name="old-phone"),
                      auth.Device, a.session_token)
        self.assertEqual(d.name, "old-phone")
        stranger = self.srv.user_token("dev-stranger")
        e = rpc_error(self.call, "RevokeDevice", auth.RevokeDeviceRequest(device_id=b.device_id), common.Empty,
                      stranger)
        self.assertEqual(e.code(), ST.NOT_FOUND)
        self.assertTrue(self.alive(b.session_token))
        self.call("RevokeDevice", auth.RevokeDeviceRequest(device_id=b.device_id), common.Empty, a.session_token)
        self.assertFalse(self.alive(b.session_token))
        self.assertEqual([d.name for d in self.devices(a.session_token)], ["laptop"])


if __name__ == "__main__":
    unittest.main()

"""A throwaway OpenLDAP server with demo users for every role, for the tests and the demo.

Built on python-ldap's `slapdtest.SlapdObject` (needs the Debian `slapd` and `ldap-utils`
packages). The server listens on a free loopback port and an LDAPI socket in a temporary
directory, offers StartTLS with slapdtest's bundled test CA, and is removed when stopped.

    python -m ops.slapd        start one, print its URI and settings, run until Ctrl-C

The directory is deliberately permissive about unauthenticated binds (`bind_anon_dn`), as some
real directories are: a simple bind with a DN and an empty password then *succeeds* as an
anonymous bind, so the client must refuse empty passwords itself (access.directory does, and
the tests prove it against this server).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

os.environ.setdefault("LDAPNOINIT", "1")  # ignore any ~/.ldaprc or /etc/ldap/ldap.conf

from slapdtest import SlapdObject
from slapdtest._slapdtest import SLAPD_CONF_TEMPLATE

SUFFIX = "dc=childindex,dc=test"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SERVICE_DN = f"cn=childindex-reader,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "reader-secret"  # a throwaway demo directory

# Group DN -> role (or capability) name, as access.settings expects it.
GROUP_ROLES: dict[str, str] = {
    f"cn=practitioners,{GROUPS}": "practitioner",
    f"cn=la-data-team,{GROUPS}": "la_data_team",
    f"cn=school-submitters,{GROUPS}": "school_submitter",
    f"cn=auditors,{GROUPS}": "auditor",
    f"cn=administrators,{GROUPS}": "administrator",
    f"cn=operators,{GROUPS}": "operator",
    f"cn=child-protection,{GROUPS}": "child_protection",
}


@dataclass(frozen=True)
class DemoUser:
    uid: str
    password: str
    groups: tuple[str, ...]  # group cn values
    ou: str = "people"
    display_name: str = field(default="")


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("pat.practitioner", "pat-Password-1", ("practitioners",)),
    DemoUser("dana.datateam", "dana-Password-1", ("la-data-team",)),
    DemoUser("sam.school", "sam-Password-1", ("school-submitters",)),
    DemoUser("alex.auditor", "alex-Password-1", ("auditors",)),
    DemoUser("ada.admin", "ada-Password-1", ("administrators",)),
    DemoUser("otto.operator", "otto-Password-1", ("operators",)),
    DemoUser("cora.protect", "cora-Password-1", ("practitioners", "child-protection")),
    DemoUser("nora.nogroup", "nora-Password-1", ()),
    # The same uid twice in the tree: a directory that answers with several entries.
    DemoUser("twin.user", "twin-Password-1", ("practitioners",)),
    DemoUser("twin.user", "twin-Password-2", ("practitioners",), ou="contractors"),
)


def ssha(password: str) -> str:
    """An RFC 2307 {SSHA} userPassword value, so the LDIF holds no clear-text password."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def demo_ldif(users: tuple[DemoUser, ...] = DEMO_USERS) -> str:
    """The tree: base, ou=people, ou=contractors, ou=services, ou=groups with groupOfNames."""
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: childindex\n"
        "o: Child index test",
        *(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}"
          for ou in ("people", "contractors", "services", "groups")),
        f"dn: {SERVICE_DN}\nobjectClass: person\ncn: childindex-reader\nsn: reader\n"
        f"userPassword: {ssha(SERVICE_PASSWORD)}",
    ]
    for user in users:
        surname = user.uid.split(".")[-1].title()
        entries.append(
            f"dn: uid={user.uid},ou={user.ou},{SUFFIX}\nobjectClass: inetOrgPerson\n"
            f"uid: {user.uid}\ncn: {user.display_name or user.uid}\nsn: {surname}\n"
            f"userPassword: {ssha(user.password)}"
        )
    for group_dn in GROUP_ROLES:
        cn = group_dn.split(",", 1)[0].removeprefix("cn=")
        members = [f"uid={u.uid},ou={u.ou},{SUFFIX}" for u in users if cn in u.groups]
        # groupOfNames needs at least one member; the service account is a harmless filler.
        lines = "\n".join(f"member: {dn}" for dn in members or [SERVICE_DN])
        entries.append(f"dn: {group_dn}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}")
    return "\n\n".join(entries) + "\n"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A one-day test CA and a server certificate for 127.0.0.1: (ca, cert, key) paths.

    Clients should connect by address: libldap replaces the name "localhost" by the
    machine's own host name before checking the certificate.

    Made fresh rather than using slapdtest's bundled ones, whose far-future expiry GnuTLS
    (which Debian's libldap uses) refuses.
    """
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey,
              signer: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("childindex test CA", "childindex test CA", ca_key, ca_key, ca=True)
    server_cert = build("localhost", "childindex test CA", server_key, ca_key, ca=False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


_ACCESS = """olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by users read by anonymous auth by * none
"""


class DemoDirectory(SlapdObject):
    """slapdtest's server with our suffix, schemas, access rules and demo tree."""

    suffix = SUFFIX
    slapd_loglevel = "none"
    openldap_schema_files = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")
    slapd_conf_template = (
        SLAPD_CONF_TEMPLATE.replace("olcAllows: bind_v2", "olcAllows: bind_v2 bind_anon_dn")
        + _ACCESS
    )

    def __init__(self) -> None:
        # slapdtest puts its run directory under $TMP or the working directory; use our own.
        self._base = tempfile.mkdtemp(prefix="childindex-slapd-")
        self.TMPDIR = self._base
        super().__init__()
        ca, cert, key = make_certificates(Path(self._base))
        self.cafile, self.servercert, self.serverkey = str(ca), str(cert), str(key)

    def start(self) -> None:
        super().start()
        self.ldapadd(demo_ldif())

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._base, ignore_errors=True)

    def settings_env(self) -> dict[str, str]:
        """CHILDINDEX_ACCESS_* settings that point access.directory at this server."""
        import json

        return {
            "CHILDINDEX_ACCESS_LDAP_URI": self.ldap_uri,
            "CHILDINDEX_ACCESS_LDAP_BASE_DN": SUFFIX,
            "CHILDINDEX_ACCESS_LDAP_BIND_DN": SERVICE_DN,
            "CHILDINDEX_ACCESS_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
            "CHILDINDEX_ACCESS_LDAP_GROUP_ROLES": json.dumps(GROUP_ROLES),
            "CHILDINDEX_ACCESS_LDAP_CA_FILE": self.cafile,
        }


@contextmanager
def demo_directory() -> Iterator[DemoDirectory]:
    """A running demo directory; stopped and removed on exit."""
    server = DemoDirectory()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:  # pragma: no cover - manual use and the demo
    import signal

    with demo_directory() as server:
        print(f"slapd listening on {server.ldap_uri}")
        for name, value in server.settings_env().items():
            print(f"export {name}='{value}'")
        print("demo users: " + ", ".join(sorted({u.uid for u in DEMO_USERS})))
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":  # pragma: no cover
    main()

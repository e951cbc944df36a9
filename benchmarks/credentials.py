"""Signed samples for the content-credential (C2PA) tests and benchmarks: a throw-away certificate chain made here
(cryptography, installed with c2pa-python), manifests built and signed with c2pa-python's Builder, and the byte
flips that break them. Nothing is fetched and no key leaves the temp folder it is written to.

C2PA wants the signing certificate to be an end-entity certificate (not a CA, not self-signed) with digitalSignature
key usage and an extended key usage it accepts (emailProtection here), on an ES256/PS256-class key; the chain sent
with the signature is that certificate then its issuer. The root is what a trust list would hold.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_GENERATED = IPTC + "trainedAlgorithmicMedia"
AI_EDITED = IPTC + "compositeWithTrainedAlgorithmicMedia"
CAPTURE = IPTC + "digitalCapture"
MIME = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}


@dataclass(frozen=True)
class Chain:
    certs_pem: bytes  # signing certificate, then the root that issued it
    key_pem: bytes  # the signing certificate's private key (PKCS#8)
    root_pem: bytes  # the anchor a trust list would hold

    def write_root(self, path: Path) -> Path:
        path.write_bytes(self.root_pem)
        return path


def make_chain(common_name: str = "Test Signer", org: str = "Test Org") -> Chain:
    """A root CA and a P-256 (ES256) signing certificate it issued, both valid from yesterday."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
        )

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not sign,
            crl_sign=not sign,
            encipher_only=False,
            decipher_only=False,
        )

    now = dt.datetime.now(dt.timezone.utc)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name(f"{org} Root CA"))
        .issuer_name(name(f"{org} Root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Chain(cert.public_bytes(pem) + root.public_bytes(pem), key_pem, root.public_bytes(pem))


def sign(
    src: Path,
    dst: Path,
    chain: Chain,
    source_type: str = AI_GENERATED,
    generator: str = "TestGen",
    thumbnail_bytes: int = 0,
) -> Path:
    """Copy `src` to `dst` with a signed manifest: a c2pa.created action declaring `source_type` (C2PA requires one
    on that action), made with `generator` 1.0; `thumbnail_bytes` > 0 attaches a random thumbnail of that size (a
    huge manifest)."""
    import c2pa

    action = {"action": "c2pa.created", "digitalSourceType": source_type}
    manifest: dict = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": src.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }
    if thumbnail_bytes:
        manifest["thumbnail"] = {"format": "image/jpeg", "identifier": "thumbnail.jpg"}
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.certs_pem, chain.key_pem, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        if thumbnail_bytes:
            builder.add_resource("thumbnail.jpg", io.BytesIO(os.urandom(thumbnail_bytes)))
        with open(src, "rb") as source, open(dst, "w+b") as dest:
            builder.sign(signer, MIME[src.suffix.lower()], source, dest)
    return dst


def flip_media_byte(src: Path, dst: Path) -> Path:
    """`src` with one bit of its picture data flipped (outside the manifest): the hard binding no longer matches."""
    data = bytearray(src.read_bytes())
    if src.suffix.lower() in (".jpg", ".jpeg"):
        at = len(data) - 64  # entropy-coded data just before the end-of-image marker (the manifest is up front)
    else:
        at = data.rindex(b"mdat") + 64  # inside the last media data box
    data[at] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def flip_manifest_byte(src: Path, dst: Path) -> Path:
    """`src` with one bit flipped inside its manifest (in the label of the actions assertion)."""
    data = bytearray(src.read_bytes())
    data[data.index(b"c2pa.actions") + 3] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


def signed_samples(folder: Path) -> dict[str, Path]:
    """The signed cases the tests run through every interface, from a drawn-face JPEG and MP4 made here:
    `{ai,capture}.{jpg,mp4}` (trainedAlgorithmicMedia / digitalCapture), `ai_media_flip.*` and
    `ai_manifest_flip.*` (one bit flipped in the pixels / in the manifest), `plain.*` (no credentials), and the
    trust lists `trust.pem` (the signer's root) and `other_trust.pem` (an unrelated root)."""
    import cv2

    from benchmarks.synthetic import drawn_face, write_video

    folder.mkdir(parents=True, exist_ok=True)
    chain = make_chain()
    plain = {
        ".jpg": folder / "plain.jpg",
        ".mp4": write_video(folder / "plain.mp4", [drawn_face(cx=150 + i) for i in range(20)]),
    }
    cv2.imwrite(str(plain[".jpg"]), cv2.cvtColor(drawn_face(), cv2.COLOR_RGB2BGR))
    out = {"trust.pem": chain.write_root(folder / "trust.pem")}
    out["other_trust.pem"] = make_chain("Someone Else", "Other Org").write_root(folder / "other_trust.pem")
    for ext, src in plain.items():
        out[f"plain{ext}"] = src
        ai = out[f"ai{ext}"] = sign(src, folder / f"ai{ext}", chain, AI_GENERATED)
        out[f"capture{ext}"] = sign(src, folder / f"capture{ext}", chain, CAPTURE)
        out[f"ai_media_flip{ext}"] = flip_media_byte(ai, folder / f"ai_media_flip{ext}")
        out[f"ai_manifest_flip{ext}"] = flip_manifest_byte(ai, folder / f"ai_manifest_flip{ext}")
    return out

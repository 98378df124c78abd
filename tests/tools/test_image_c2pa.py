"""Signed C2PA manifests on generated PNGs, with the real c2pa-python and a test certificate chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, PngImagePlugin

from heron.errors import ProvenanceError
from heron.tools.image.c2pa_manifest import (
    GENERATION_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    c2pa_available,
    read_manifest,
    sign_png,
)

FIELDS = {"model": "sd-turbo", "prompt": "a grey heron at dawn", "seed": "42", "steps": "4"}
KeyMaker = Callable[[], ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey]
KEYS: dict[str, tuple[KeyMaker, str]] = {
    "p256": (lambda: ec.generate_private_key(ec.SECP256R1()), "Es256"),
    "p384": (lambda: ec.generate_private_key(ec.SECP384R1()), "Es384"),
    "ed25519": (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
    "rsa": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "Ps256"),
}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Heron Tests"),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_chain(folder: Path, key_type: str = "p256", *, root_only: bool = False) -> tuple[Path, Path]:
    """A root CA and a C2PA-shaped signer certificate: (chain PEM, signer key PEM).

    With `root_only`, the self-signed root and its key instead, which C2PA refuses to sign with.
    """
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Heron Test Root"))
        .issuer_name(_name("Heron Test Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_path, key_path = folder / f"{key_type}-chain.pem", folder / f"{key_type}-key.pem"
    if root_only:
        cert_path.write_bytes(root.public_bytes(pem))
        key_path.write_bytes(_private_pem(root_key))
        return cert_path, key_path
    key = KEYS[key_type][0]()
    # C2PA's signer profile: not a CA, digitalSignature, an allowed EKU (emailProtection), key ids.
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Heron Test Signer"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    cert_path.write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))
    key_path.write_bytes(_private_pem(key))
    return cert_path, key_path


def _private_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_png(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("heron:prompt", FIELDS["prompt"])
    Image.new("RGB", (32, 32), (90, 110, 130)).save(path, "PNG", pnginfo=info)
    return path


def test_c2pa_is_available() -> None:
    assert c2pa_available()


@pytest.mark.parametrize("key_type", list(KEYS))
def test_signed_png_carries_a_trained_algorithmic_media_manifest(tmp_path: Path, key_type: str) -> None:
    cert, key = make_chain(tmp_path, key_type)
    image = make_png(tmp_path / "heron.png")

    sign_png(image, cert=cert, key=key, fields=FIELDS)
    manifest = read_manifest(image)

    assert manifest["title"] == "heron.png"
    assert manifest["claim_generator_info"][0]["name"] == "heron"
    assert manifest["signature_info"]["alg"] == KEYS[key_type][1]
    assertions = {assertion["label"]: assertion["data"] for assertion in manifest["assertions"]}
    actions_label = "c2pa.actions.v2" if "c2pa.actions.v2" in assertions else "c2pa.actions"
    (created,) = [a for a in assertions[actions_label]["actions"] if a["action"] == "c2pa.created"]
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "sd-turbo"
    assert created["parameters"] == {"prompt": FIELDS["prompt"], "seed": "42", "steps": "4"}
    assert assertions[GENERATION_LABEL] == FIELDS
    assert not list(tmp_path.glob(".heron.png.*")), "the temp file was renamed over the image"


def test_signed_png_is_still_the_same_image(tmp_path: Path) -> None:
    cert, key = make_chain(tmp_path)
    image = make_png(tmp_path / "heron.png")
    image.chmod(0o644)
    with Image.open(image) as before:
        pixels = before.convert("RGB").tobytes()

    sign_png(image, cert=cert, key=key, fields={"prompt": "x"})

    with Image.open(image) as after:
        assert isinstance(after, PngImagePlugin.PngImageFile)
        assert after.size == (32, 32)
        assert after.text["heron:prompt"] == FIELDS["prompt"]
        assert after.convert("RGB").tobytes() == pixels
    assert image.stat().st_mode & 0o777 == 0o644


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    cert, _ = make_chain(tmp_path)
    image = make_png(tmp_path / "heron.png")
    missing = tmp_path / "nowhere" / "key.pem"

    with pytest.raises(ProvenanceError, match="not found") as caught:
        sign_png(image, cert=cert, key=missing, fields=FIELDS)
    assert str(missing) in str(caught.value)


def test_key_that_does_not_match_the_cert_is_refused(tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    cert, _ = make_chain(tmp_path / "first")
    _, other_key = make_chain(tmp_path / "second")
    image = make_png(tmp_path / "heron.png")
    original = image.read_bytes()

    with pytest.raises(ProvenanceError, match="does not match"):
        sign_png(image, cert=cert, key=other_key, fields=FIELDS)
    assert image.read_bytes() == original
    assert not list(tmp_path.glob(".heron.png.*"))


def test_garbage_key_is_refused(tmp_path: Path) -> None:
    cert, key = make_chain(tmp_path)
    key.write_text("not a key\n")
    image = make_png(tmp_path / "heron.png")

    with pytest.raises(ProvenanceError, match="cannot load the C2PA private key"):
        sign_png(image, cert=cert, key=key, fields=FIELDS)


def test_certificate_c2pa_refuses_is_a_provenance_error(tmp_path: Path) -> None:
    cert, key = make_chain(tmp_path, root_only=True)
    image = make_png(tmp_path / "heron.png")
    original = image.read_bytes()

    with pytest.raises(ProvenanceError, match="self-signed"):
        sign_png(image, cert=cert, key=key, fields=FIELDS)
    assert image.read_bytes() == original
    assert not list(tmp_path.glob(".heron.png.*"))


def test_unsigned_png_has_no_manifest(tmp_path: Path) -> None:
    image = make_png(tmp_path / "plain.png")

    with pytest.raises(ProvenanceError, match="no readable C2PA manifest"):
        read_manifest(image)

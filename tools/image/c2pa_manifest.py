"""Signed C2PA manifests (Content Credentials) for the PNGs that ``generate_image`` writes.

A manifest says, under a signature, that the picture was made by a trained model
(IPTC ``trainedAlgorithmicMedia``), with which model, prompt and seed. Signing is optional:
it needs the ``c2pa-python`` package and a PEM certificate chain plus its private key
(``[image] c2pa_cert`` / ``c2pa_key``). ``c2pa-python`` and ``cryptography`` (its dependency) are
imported lazily, so heron runs without them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heron import __version__
from heron.errors import ProvenanceError
from heron.tools.image.provenance import TRAINED_ALGORITHMIC_MEDIA

GENERATION_LABEL = "org.heron.generation"
_INSTALL_HINT = 'pip install "c2pa-python>=0.38,<0.39"'
_KEY_HINT = "set image.c2pa_cert and image.c2pa_key to a PEM certificate chain and its private key"
_CERT_HINT = (
    "the signer certificate must be issued by a CA (not self-signed), not be a CA itself, and have "
    "digitalSignature key usage and an emailProtection or documentSigning extended key usage"
)


@functools.cache
def c2pa_available() -> bool:
    """True when c2pa-python imports (its native library loads too, so this checks more than a find_spec)."""
    try:
        import c2pa  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _read_pem(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProvenanceError(f"C2PA {what} not found: {path}", _KEY_HINT) from None
    except OSError as exc:
        raise ProvenanceError(f"cannot read the C2PA {what} {path}: {exc}", _KEY_HINT) from exc


def _signing_alg(cert_pem: bytes, key_pem: bytes, cert: Path, key: Path) -> str:
    """The C2PA algorithm name for the key, after checking that the key belongs to the first certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        private_key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
        raise ProvenanceError(
            f"cannot load the C2PA private key {key}: {exc}", "give an unencrypted PEM (PKCS#8) key"
        ) from exc
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]  # the signer comes first in a chain
    except ValueError as exc:
        raise ProvenanceError(f"cannot load the C2PA certificate {cert}: {exc}", _KEY_HINT) from exc
    # Checked here because c2pa only notices at signing time, with a vaguer message.
    if leaf.public_key() != private_key.public_key():
        raise ProvenanceError(
            f"the C2PA key {key} does not match the certificate {cert}",
            "use the private key the certificate was issued for",
        )
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "ps256"  # C2PA allows RSA only with PSS padding
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if private_key.curve.name in by_curve:
            return by_curve[private_key.curve.name]
    raise ProvenanceError(
        f"C2PA cannot sign with the key in {key} ({type(private_key).__name__})",
        "use an EC P-256/P-384/P-521, Ed25519 or RSA (PSS) key",
    )


def _manifest(title: str, fields: Mapping[str, str]) -> dict[str, Any]:
    data = {name: str(value) for name, value in fields.items()}
    parameters = {name: data[name] for name in ("prompt", "seed", "steps") if name in data}
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        # The agent that made the pixels is the model; heron itself is the claim generator.
        "softwareAgent": {"name": data.get("model", "heron")},
        "parameters": parameters,
    }
    return {
        # claim_generator_info, not the v1 claim_generator string, which c2pa-rs 0.91 drops from v2 claims.
        "claim_generator_info": [{"name": "heron", "version": __version__}],
        "title": title,
        "assertions": [
            # The SDK writes this as c2pa.actions.v2.
            {"label": "c2pa.actions", "data": {"actions": [created]}},
            {"label": GENERATION_LABEL, "data": data},
        ],
    }


def signed_png_bytes(png: bytes, *, cert: Path, key: Path, fields: Mapping[str, str], title: str) -> bytes:
    """``png`` (a whole PNG file's bytes) with a signed C2PA manifest embedded.

    `fields` (model, prompt, seed, steps, ...) go into the ``c2pa.created`` action and, all of them,
    into the ``org.heron.generation`` assertion; ``title`` names the asset in the manifest.
    """
    if not c2pa_available():
        raise ProvenanceError("C2PA signing needs c2pa-python", _INSTALL_HINT)
    import c2pa

    cert_pem, key_pem = _read_pem(cert, "certificate"), _read_pem(key, "private key")
    alg = _signing_alg(cert_pem, key_pem, cert, key)
    try:
        with (
            io.BytesIO(png) as source,
            io.BytesIO() as dest,
            c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, cert_pem, key_pem, None)) as signer,
            c2pa.Builder(_manifest(title, fields)) as builder,
        ):
            builder.sign(signer, "image/png", source, dest)
            return dest.getvalue()
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"C2PA signing of {title} failed: {exc}", _CERT_HINT) from exc


def sign_png(path: Path, *, cert: Path, key: Path, fields: Mapping[str, str]) -> None:
    """Embed a signed C2PA manifest into the PNG at `path`, in place and atomically (a temp file in
    the same folder, then ``os.replace``), so a failure never leaves a half-written image."""
    if not path.is_file():
        raise ProvenanceError(f"no image to sign at {path}", "check the path")
    signed = signed_png_bytes(path.read_bytes(), cert=cert, key=key, fields=fields, title=path.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dest:
            dest.write(signed)
        shutil.copymode(path, tmp)  # mkstemp makes 0600 files; keep the image's own permissions
        os.replace(tmp, path)
    except OSError as exc:
        raise ProvenanceError(f"cannot write the signed image {path}: {exc}", "check the folder") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_manifest(path: Path) -> dict[str, Any]:
    """The active manifest of the file as a dict (parsed from c2pa's JSON); ProvenanceError if none.

    Only the manifest: c2pa's validation verdict (e.g. an untrusted signer) is not part of it.
    """
    if not c2pa_available():
        raise ProvenanceError("reading C2PA manifests needs c2pa-python", _INSTALL_HINT)
    import c2pa

    if not path.is_file():
        raise ProvenanceError(f"no such file: {path}", "check the path")
    try:
        with c2pa.Reader(str(path)) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:  # ManifestNotFound included
        raise ProvenanceError(f"no readable C2PA manifest in {path}: {exc}", "sign it with sign_png") from exc
    manifest = store.get("manifests", {}).get(store.get("active_manifest"))
    if not isinstance(manifest, dict):
        raise ProvenanceError(f"no active C2PA manifest in {path}", "sign it with sign_png")
    return manifest

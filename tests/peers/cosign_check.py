#!/usr/bin/env python3
"""An independent check of our cosign key format and signatures, with code we did not write.

Usage: cosign_check.py PRIVATE_KEY PAYLOAD SIGNATURE_BASE64  (password in
PROVISIONING_SIGNING_PASSWORD). Decrypts the private key as cosign's format defines it
(a PEM block holding a JSON envelope: scrypt KDF, NaCl secretbox, PKCS#8 DER inside) with
`cryptography` and `PyNaCl`, then verifies the ECDSA P-256 / SHA-256 signature over the
exact payload bytes. Exit 0 and "verified" when it holds; 1 when the signature does not
verify; 2 when the key cannot be read.
"""

import base64
import json
import os
import sys

import nacl.secret
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

BEGIN = ("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")


def envelope(pem_text):
    lines = pem_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() in BEGIN)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("-----END "))
    return json.loads(base64.b64decode("".join(lines[start + 1 : end])))


def private_key(path, password):
    with open(path, encoding="ascii") as f:
        env = envelope(f.read())
    kdf = env["kdf"]
    if kdf["name"] != "scrypt" or env["cipher"]["name"] != "nacl/secretbox":
        raise ValueError(f"unexpected envelope: {kdf['name']} / {env['cipher']['name']}")
    params = kdf["params"]
    key = Scrypt(
        salt=base64.b64decode(kdf["salt"]),
        length=nacl.secret.SecretBox.KEY_SIZE,
        n=params["N"],
        r=params["r"],
        p=params["p"],
    ).derive(password)
    plain = nacl.secret.SecretBox(key).decrypt(
        base64.b64decode(env["ciphertext"]), base64.b64decode(env["cipher"]["nonce"])
    )
    return serialization.load_der_private_key(plain, password=None)


def main():
    key_path, payload_path, signature = sys.argv[1:4]
    password = os.environ.get("PROVISIONING_SIGNING_PASSWORD", "").encode()
    try:
        key = private_key(key_path, password)
    except Exception as e:  # noqa: BLE001 - any failure to read the key is the answer
        print(f"cannot read the private key: {e}", file=sys.stderr)
        return 2
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        print(f"not an ECDSA P-256 key: {key!r}", file=sys.stderr)
        return 2
    with open(payload_path, "rb") as f:
        payload = f.read()
    try:
        key.public_key().verify(base64.b64decode(signature), payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        print("the signature does not verify over the payload", file=sys.stderr)
        return 1
    print("verified: key decrypted (scrypt + secretbox), ECDSA P-256 signature holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())

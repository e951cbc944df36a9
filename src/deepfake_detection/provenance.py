"""Provenance stage: read a file's C2PA content credentials and say what they prove.

One public entry: `read_provenance(path, trust=None) -> Provenance`. The manifest store is read and validated by
c2pa-python (the Content Authenticity Initiative's binding of c2pa-rs); this module only asks it and condenses the
answer: the active manifest, the software that made it (claim generator), the signing certificate's subject and
issuer, the signing time when time-stamped, the actions, every IPTC digital source type anywhere in the store
(e.g. `http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`) and the validation state.

What credentials can show: that the file is unchanged since someone signed a statement about it, who signed
(a certificate subject; it is only a known party when its chain leads to an anchor of the trust list) and what
the signer declared, e.g. "made by a generative model". What they cannot show: anything about a file without them
(most re-encoders, editors and upload pipelines strip them, so absence proves nothing), or that a declaration is
true (a signer can declare what it likes; a trust list says whom to believe).

Bounds (the library runs in this process, so only what passes through Python can be bounded):
- time: every read the library makes goes through `_Guard`, which fails once the deadline has passed; and the
  call runs in a daemon thread that is given up on at the deadline (plus a grace), so a stall inside the library
  still returns a warning in time (the thread ends, or not, in the background);
- memory: the guard measures this process's resident memory after each MiB read and fails past the limit (the
  library holds the whole manifest store in memory, so a huge manifest stops while it is being read). It limits
  growth: memory the allocator already holds free may be reused without counting;
- no network: remote manifests and OCSP responses are never fetched;
- output: at most `max_items` actions and source types are kept, strings are cut, and a store whose JSON is over
  `max_json_mb` is not summarised.
Not bounded here: a crash inside the native library ends the process; `serve` and `scan` read each file in a
worker process (one file lost, with its reason), `detect` does not.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .report import Provenance

log = logging.getLogger(__name__)

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# IPTC digital source types that mean trained-algorithmic (generative AI) media, and how a summary says it.
# Not included: algorithmicMedia (made by an algorithm with no training data), compositeSynthetic (any synthetic
# element, CGI included), algorithmicallyEnhanced (minor corrections).
AI_SOURCE_TYPES = {"trainedAlgorithmicMedia": "AI-generated", "compositeWithTrainedAlgorithmicMedia": "AI-edited"}

# Failure codes a person can read without the specification.
_HINTS = {
    "assertion.dataHash.mismatch": "the file changed after signing",
    "assertion.bmffHash.mismatch": "the file changed after signing",
    "assertion.boxesHash.mismatch": "the file changed after signing",
    "assertion.hashedURI.mismatch": "the manifest changed after signing",
    "claimSignature.mismatch": "the signature does not match the claim",
    "claimSignature.outsideValidity": "signed outside the certificate's validity",
    "signingCredential.expired": "the signing certificate had expired",
    "signingCredential.revoked": "the signing certificate is revoked",
    "signingCredential.invalid": "the signing certificate is not valid for C2PA",
}
UNTRUSTED = "signingCredential.untrusted"
_GRACE_S = 0.5  # past the deadline, what the reading thread gets to notice it before it is given up on
_TEXT_MAX = 200  # characters kept of any string the credentials carry


@dataclass(frozen=True)
class ProvenanceLimits:
    """Guard rails against hostile or huge manifests (see the module docstring for what each bounds)."""

    timeout_s: float = 2.0  # reading and validating; a 50 MB manifest takes ~0.7 s, none at all ~1 ms
    max_memory_mb: float = 64.0  # growth of this process's resident memory while the library reads
    max_json_mb: float = 8.0  # the store as JSON; real manifests are KBs to a few MB (5000 actions: 1 MB)
    max_items: int = 32  # actions and digital source types kept in the report


@dataclass(frozen=True)
class TrustList:
    """PEM trust anchors: credentials count as trusted only when their signing chain leads to one of them."""

    path: str
    pem: str
    subjects: tuple[str, ...]  # of the anchors, for messages

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustList:
        """Read and check a PEM file of certificates. Raises ConfigError with one line when it is unusable."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ConfigError(f"trust list {p}: {e.strerror or e}") from None
        try:
            from cryptography import x509  # installed with c2pa-python
        except ImportError:
            raise ConfigError("a trust list needs c2pa-python, which is not installed on this platform") from None
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ConfigError(f"trust list {p} holds no readable PEM certificate") from None
        return cls(str(p), data.decode("ascii", "replace"), tuple(c.subject.rfc4514_string() for c in certs))


_preload = threading.Lock()
_preloaded = False


def preload() -> None:
    """Import c2pa-python in a background thread, once per process (~30-40 ms, mostly its native library and package
    metadata), so that a caller with other work to do (the pipeline, while it decodes) does not wait for it on its
    first file. `read_provenance` works without it: its import then waits for this one or does the work itself."""
    global _preloaded
    with _preload:
        if _preloaded:
            return
        _preloaded = True

    def load() -> None:
        try:
            import c2pa  # noqa: F401
        except ImportError:
            pass

    threading.Thread(target=load, name="c2pa-import", daemon=True).start()


def read_provenance(
    path: str | os.PathLike[str], trust: TrustList | None = None, limits: ProvenanceLimits = ProvenanceLimits()
) -> Provenance:
    """The content credentials of `path`, validated against `trust` (None: no signer is trusted).

    Never raises for what the file holds: missing, damaged, hostile or huge credentials give a `Provenance` whose
    `state` and `summary` say so (see `report.Provenance`). Example:

        >>> read_provenance("clip.mp4").summary
        'no content credentials'
    """
    has_trust = trust is not None
    try:
        import c2pa
    except ImportError:
        return _unchecked("c2pa-python is not installed", has_trust)
    guard = _Guard(limits)
    outcome: list[Provenance | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_read(c2pa, Path(path), trust, guard, limits))
        except BaseException as e:  # handed to the caller's thread below
            outcome.append(e)

    thread = threading.Thread(target=work, name="provenance", daemon=True)
    thread.start()
    thread.join(limits.timeout_s + _GRACE_S)
    if not outcome:
        guard.tripped = guard.tripped or _too_slow(limits)  # its next read fails: the library gives up soon
        log.warning("content credentials of %s: %s", path, guard.tripped)
        return _unchecked(guard.tripped, has_trust, error=True)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _too_slow(limits: ProvenanceLimits) -> str:
    return f"reading them took over {limits.timeout_s:g} s"


def _unchecked(reason: str, has_trust: bool, error: bool = False) -> Provenance:
    return Provenance(
        state="unchecked",
        summary=f"content credentials not checked: {reason}",
        trust_list=has_trust,
        error=reason if error else None,
    )


class _Guard(io.RawIOBase):
    """The file as the library reads it: each read first checks the deadline and, after each MiB, the memory."""

    CHECK_EVERY = 1 << 20

    def __init__(self, limits: ProvenanceLimits):
        super().__init__()
        self.limits = limits
        self.file: io.BufferedReader | None = None
        self.deadline = time.monotonic() + limits.timeout_s
        self.base = _resident_bytes()
        self.unchecked_bytes = 0
        self.tripped: str | None = None

    def open(self, path: Path) -> _Guard:
        self.file = open(path, "rb")  # closed in close()
        return self

    def _check(self, n: int) -> None:
        if self.tripped is None and time.monotonic() > self.deadline:
            self.tripped = _too_slow(self.limits)
        self.unchecked_bytes += n
        if self.tripped is None and self.base is not None and self.unchecked_bytes >= self.CHECK_EVERY:
            self.unchecked_bytes = 0
            grown = (_resident_bytes() or 0) - self.base
            if grown > self.limits.max_memory_mb * 2**20:
                self.tripped = f"they need over {self.limits.max_memory_mb:g} MiB of memory to read"
        if self.tripped is not None:
            raise OSError(self.tripped)  # the library sees a failed read and stops

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._check(len(buffer))
        assert self.file is not None
        return self.file.readinto(buffer)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check(0)
        assert self.file is not None
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        assert self.file is not None
        return self.file.tell()

    def write(self, data: Any) -> int:
        raise OSError("read only")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


def _resident_bytes() -> int | None:
    """This process's resident memory (Linux); None where /proc is missing (then memory is not checked)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _read(c2pa: Any, path: Path, trust: TrustList | None, guard: _Guard, limits: ProvenanceLimits) -> Provenance:
    has_trust = trust is not None
    settings: dict[str, Any] = {
        "verify": {
            "verify_after_reading": True,
            "verify_trust": True,
            "ocsp_fetch": False,
            "remote_manifest_fetch": False,
        },
        "core": {"max_decompressed_manifest_size_in_mb": max(1, int(limits.max_memory_mb))},
    }
    if trust is not None:
        settings["trust"] = {"trust_anchors": trust.pem}
    try:
        with guard.open(path) as stream, c2pa.Context(settings=c2pa.Settings.from_dict(settings)) as context:
            reader = c2pa.Reader.try_create(None, stream, None, context)
            if reader is None:
                return Provenance(state="none", summary="no content credentials", trust_list=has_trust)
            with reader:
                store_json = reader.json()
                if len(store_json) > limits.max_json_mb * 2**20:
                    reason = (
                        f"their JSON is {len(store_json) / 2**20:.0f} MiB, over the {limits.max_json_mb:g} MiB limit"
                    )
                    return _unchecked(reason, has_trust, error=True)
                try:
                    cr_json = reader.crjson()
                except c2pa.C2paError:
                    cr_json = "{}"
        if guard.tripped:  # a refused read can surface as a hash mismatch instead of an error
            return _unchecked(guard.tripped, has_trust, error=True)
    except c2pa.C2paError as e:
        if guard.tripped:
            return _unchecked(guard.tripped, has_trust, error=True)
        if isinstance(e, c2pa.C2paError.NotSupported):
            return _unchecked("C2PA does not cover this file format", has_trust)
        reason = _cut(str(e).strip().rstrip(":").strip() or type(e).__name__)
        return Provenance(
            state="invalid",
            summary=f"content credentials present but invalid: unreadable manifest ({reason})",
            trust_list=has_trust,
            error=reason,
        )
    except OSError as e:
        return _unchecked(f"cannot read the file: {e.strerror or e}", has_trust, error=True)
    try:
        store = json.loads(store_json)
        cr = json.loads(cr_json) if len(cr_json) <= limits.max_json_mb * 2**20 else {}
    except (ValueError, RecursionError):
        return _unchecked("the library's answer is not readable JSON", has_trust, error=True)
    return _summarise(store, cr if isinstance(cr, dict) else {}, has_trust, limits.max_items)


def _summarise(store: Any, cr: dict[str, Any], has_trust: bool, max_items: int) -> Provenance:
    """The library's manifest-store JSON (and crJSON, for the certificate's names) condensed into a Provenance."""
    store = store if isinstance(store, dict) else {}
    manifests = _dict(store.get("manifests"))
    label = store.get("active_manifest") if isinstance(store.get("active_manifest"), str) else None
    active = _dict(manifests.get(label)) if label else {}
    codes = _unique(
        [s.get("code") for s in _list(store.get("validation_status")) if isinstance(s, dict)]
        + [
            s.get("code")
            for s in _list(_dict(_dict(store.get("validation_results")).get("activeManifest")).get("failure"))
            if isinstance(s, dict)
        ],
        max_items,
    )
    raw_state = store.get("validation_state")
    state = {"Trusted": "valid", "Valid": "untrusted"}.get(raw_state if isinstance(raw_state, str) else "", "invalid")
    sources = _unique(list(_source_types(manifests)), max_items)
    ai_terms = _unique([AI_SOURCE_TYPES[t] for t in (_term(s) for s in sources) if t in AI_SOURCE_TYPES], 2)
    signature = _dict(active.get("signature_info"))
    subject, issuer = _certificate_names(cr, label)
    # Without crJSON, c2pa's summary has the subject's CN and O (which it calls "issuer") but not the issuer.
    names = {"CN": signature.get("common_name"), "O": signature.get("issuer")}
    signer = subject or _dn({k: v for k, v in names.items() if isinstance(v, str) and v})
    p = Provenance(
        state=state,  # type: ignore[arg-type]  # one of the literal's values by construction
        claim_generator=_generator(active),
        signer=signer,
        issuer=issuer,
        signed_at=_text(signature.get("time")),
        actions=_unique(list(_actions(active)), max_items),
        digital_source_types=sources,
        declares_ai=bool(ai_terms),
        failures=codes,
        manifests=len(manifests),
        active_manifest=_text(label),
        trust_list=has_trust,
    )
    return _with_summary(p, ai_terms)


def _with_summary(p: Provenance, ai_terms: list[str]) -> Provenance:
    if p.state == "invalid":
        why = [c + (f" ({_HINTS[c]})" if c in _HINTS else "") for c in p.failures if c != UNTRUSTED]
        text = "content credentials present but invalid: " + ("; ".join(why) or "validation failed")
        return replace(p, summary=text)
    parts = []
    if p.claim_generator:
        parts.append(f"made with {p.claim_generator}")
    cn, org = _names(p.signer)
    trust = (
        "on the trust list"
        if p.state == "valid"
        else "not on the trust list"
        if p.trust_list
        else "not checked: no trust list"
    )
    parts.append(f"signed by {cn or 'an unnamed signer'} ({org + '; ' if org else ''}{trust})")
    if ai_terms:
        parts.append("declares " + " and ".join(ai_terms))
    elif p.digital_source_types:
        parts.append("declares " + ", ".join(_term(s) for s in p.digital_source_types))
    return replace(p, summary="content credentials: " + ", ".join(parts))


def _source_types(node: Any, limit: int = 200_000) -> Iterator[str]:
    """Every value of a `digitalSourceType` key (any case or prefix, e.g. IPTC's `Iptc4xmpExt:DigitalSourceType`)
    anywhere under `node`, depth first, visiting at most `limit` values (no recursion: nesting may be hostile)."""
    stack, seen = [node], 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str) and key.lower().endswith("digitalsourcetype"):
                    yield _cut(value)
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _actions(manifest: dict[str, Any]) -> Iterator[str]:
    for assertion in _list(manifest.get("assertions")):
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in _list(_dict(assertion.get("data")).get("actions")):
                if isinstance(action, dict) and isinstance(action.get("action"), str):
                    yield _cut(action["action"])


def _generator(manifest: dict[str, Any]) -> str | None:
    for info in _list(manifest.get("claim_generator_info")):
        if isinstance(info, dict) and isinstance(info.get("name"), str):
            return _cut(" ".join(str(x) for x in (info["name"], info.get("version")) if isinstance(x, (str, int))))
    return _text(manifest.get("claim_generator"))


def _certificate_names(cr: dict[str, Any], label: str | None) -> tuple[str | None, str | None]:
    """(subject, issuer) of the active manifest's signing certificate, as 'CN=..., O=...', from crJSON."""
    for manifest in _list(cr.get("manifests")):
        if isinstance(manifest, dict) and manifest.get("label") == label:
            info = _dict(_dict(manifest.get("signature")).get("certificateInfo"))
            return _dn(info.get("subject")), _dn(info.get("issuer"))
    return None, None


def _dn(names: Any) -> str | None:
    if not isinstance(names, dict) or not names:
        return None
    return _cut(", ".join(f"{k}={v}" for k, v in names.items() if isinstance(v, (str, int))))


def _names(dn: str | None) -> tuple[str | None, str | None]:
    """'CN=Firefly, O=Adobe Inc.' -> ('Firefly', 'Adobe Inc.'); a name that is not a DN is taken as the CN."""
    if not dn:
        return None, None
    parts = dict(p.split("=", 1) for p in dn.split(", ") if "=" in p)
    if not parts:
        return dn, None
    cn, org = parts.get("CN"), parts.get("O")
    return cn or org or dn, org if cn and org != cn else None


def _term(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _unique(items: list[Any], limit: int) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and item not in out:
            out.append(_cut(item))
            if len(out) >= limit:
                break
    return out


def _text(value: Any) -> str | None:
    return _cut(value) if isinstance(value, str) and value else None


def _cut(text: str) -> str:
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 1] + "…"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

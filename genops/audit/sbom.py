"""The release's SBOM: CycloneDX 1.6 JSON of the locked dependencies, the tree as root component.

Built with cyclonedx-python-lib, never by hand. Deterministic for replay: the serial number is
derived from the tree hash and the timestamp is the release's, not the clock's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from license_expression import get_spdx_licensing
from packageurl import PackageURL

from genops.audit.lockfile import LockedPackage, normalize

SBOM_FILE = "sbom.cdx.json"
_NAMESPACE = uuid.UUID("6f1c4a52-2a43-4bb8-9d51-0c3f6e1f0a11")  # genops's UUID5 namespace


def _license(text: str) -> DisjunctiveLicense | LicenseExpression | None:
    if not text or text == "unknown":
        return None
    licensing = get_spdx_licensing()
    if not licensing.validate(text).errors:
        return LicenseExpression(text)
    return DisjunctiveLicense(name=text)


def _component(package: LockedPackage) -> Component:
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=h.split(":", 1)[1])
              for h in package.hashes if h.startswith("sha256:")]
    license_ = _license(package.license)
    return Component(name=normalize(package.name), version=package.version,
                     type=ComponentType.LIBRARY, bom_ref=package.purl,
                     purl=PackageURL("pypi", None, normalize(package.name), package.version),
                     hashes=hashes, licenses=[license_] if license_ else [])


def build_sbom(*, project: str, release: str, tree_sha256: str, created: str,
               packages: Sequence[LockedPackage]) -> str:
    """The CycloneDX 1.6 JSON text of one release (stable bytes for the same inputs)."""
    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, f"{project}/{release}/{tree_sha256}"))
    bom.metadata.timestamp = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    root = Component(name=project, version=release, type=ComponentType.APPLICATION,
                     bom_ref="generated-tree",
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=tree_sha256)])
    bom.metadata.component = root
    components = [_component(p) for p in packages]
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def validate_sbom(text: str) -> str | None:
    """None when `text` is valid CycloneDX 1.6 JSON, else the validator's message."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)

"""Audit packs: what lets a third party check a release offline, with no key but a public one.

- `lockfile`: the generated tree's hash-pinned dependency lock (`<output>.lock`, beside the tree).
- `sbom`: a CycloneDX 1.6 SBOM of the locked dependencies, the tree as its root component.
- `provenance`: in-toto Statements (SLSA provenance v1, test-result v0.1) about a release.
- `dsse` and `keys`: DSSE envelopes signed with an Ed25519 key kept outside the repository.
- `pack`: builds a release's pack. Checking one against a release's commit is
  `genops.release.verify` (it needs git and the release store; this package needs neither).
"""

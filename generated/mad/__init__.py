"""The MAD ecosystem: a cellular monolith of MADs that talk only through a conversation bus.

Run it with ``python -m mad``. The parts: :mod:`mad.core` (bus, MAD base,
observability), the MADs (:mod:`mad.rogers`, :mod:`mad.fiedler`,
:mod:`mad.turing`, :mod:`mad.grace`, :mod:`mad.marco`), the tool gateway
(:mod:`mad.tools`) and the composition root (:mod:`mad.app`).
"""
__version__ = "1.0.0"

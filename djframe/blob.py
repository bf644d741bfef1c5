"""``datajoint.blob``: the blob format's public functions and settings (`pack`, `unpack`,
`MatCell`, `MatStruct`, ``use_32bit_dims``).

This name is the codec module itself (`djframe.codecs.blob`), not a copy: a setting
such as ``dj.blob.use_32bit_dims = True`` must reach the reader that uses it.
"""

import sys

from .codecs import blob as _blob

sys.modules[__name__] = _blob

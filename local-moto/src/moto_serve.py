"""moto's server on a loopback port the kernel picks; its address is the first line of stdout.

Usage: python moto_serve.py serial|threaded

The port is bound here rather than found free beforehand and passed in: between the two, another
process (another test's moto, say) could take it, and whoever waited for it would talk to a
server holding someone else's resources. `serial` answers one request at a time.
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

MODES = ("serial", "threaded")

mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode not in MODES:
    sys.exit(f"usage: moto_serve.py {'|'.join(MODES)}")
app = DomainDispatcherApplication(create_backend_app)
server = make_server("127.0.0.1", 0, app, threaded=mode == "threaded")
# moto builds the URLs it hands out (queue URLs, say) from MOTO_PORT, read when it needs one.
os.environ["MOTO_PORT"] = str(server.port)
print(f"moto listening on http://127.0.0.1:{server.port}", flush=True)
server.serve_forever()

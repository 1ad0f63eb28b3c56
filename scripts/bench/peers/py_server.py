# The Python peer's server, spawned by peers/servers.mjs: multiprocessing.managers hosting one
# Counter (inc, echo) on 127.0.0.1, an ephemeral port. It prints `{"port": P, "pid": PID}` on
# one line once it listens, and exits when its stdin closes (the bench gone).
import json
import os
import sys
import threading
from multiprocessing.managers import BaseManager


class Counter:
    def __init__(self):
        self.value = 0

    def inc(self):
        self.value += 1
        return self.value

    def echo(self, value):
        return value


COUNTER = Counter()


class Manager(BaseManager):
    pass


Manager.register("counter", callable=lambda: COUNTER)

if __name__ == "__main__":
    manager = Manager(address=("127.0.0.1", 0), authkey=sys.argv[1].encode())
    server = manager.get_server()
    print(json.dumps({"port": server.address[1], "pid": os.getpid()}), flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()

# The Python peer's client, spawned by peers/main.mjs. Usage:
#   python3 py_client.py <port> <authkey> serve   JSON commands on stdin, one answer line each
#   python3 py_client.py <port> <authkey> once    connect, one inc(), print the reply, exit
# Commands: {"op": "seq", "calls": N}, {"op": "echo", "size": S, "calls": N} (answers
# {"s": seconds}), {"op": "connect"} (a new manager connection and proxy until the first
# reply, {"s": seconds}); a `serve` client connects once, before its first answer {"ready": 1}.
import json
import sys
import time
from multiprocessing.managers import BaseManager


class Manager(BaseManager):
    pass


Manager.register("counter")


def open_counter(port, authkey):
    manager = Manager(address=("127.0.0.1", port), authkey=authkey)
    manager.connect()
    return manager.counter()


def main():
    port, authkey, mode = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
    if mode == "once":
        print(open_counter(port, authkey).inc(), flush=True)
        return
    counter = open_counter(port, authkey)
    print(json.dumps({"ready": 1}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        start = time.perf_counter()
        if op == "seq":
            for _ in range(command["calls"]):
                counter.inc()
        elif op == "echo":
            value = "x" * command["size"]
            for _ in range(command["calls"]):
                if len(counter.echo(value)) != command["size"]:
                    raise SystemExit("echo: wrong length")
        elif op == "connect":
            open_counter(port, authkey).inc()
        print(json.dumps({"s": time.perf_counter() - start}), flush=True)


main()

#!/usr/bin/env python3
"""Clients and log readers for deploy/haproxy/test.sh (Python 3 standard library only).

  probe.py games HOST PORT N               N concurrent whole games; JSON summary, exit 1 on any error
  probe.py hold HOST PORT N PORTS GO T     N games started, their local ports written to PORTS;
                                           once the file GO exists, each game is played to its end
                                           with T seconds per reply; JSON per game
  probe.py opened LOG...                   proxied connections per backend log: JSON
  probe.py where PORTS LOG...              which log holds each client port of PORTS (a JSON
                                           list, or the JSON of `games`): JSON
  probe.py wait SOCKET SERVER STATE S      poll HAProxy's admin socket until SERVER is STATE
                                           (UP/DOWN), at most S seconds; prints the seconds taken

Every wait is bounded; the games follow the client's rule of PROTOCOL.md.
"""

import asyncio
import json
import os
import random
import socket
import sys
import time

LOWER, UPPER = 1, 50


def decide(secret, guess, previous):
    distance = abs(guess - secret)
    if distance == 0:
        return "Correct", distance
    if previous is None or distance == previous:
        return "Unsure", distance
    return ("Warmer" if distance < previous else "Colder"), distance


class Game:
    """One connection and one game over LOWER..UPPER, played step by step."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.secret = random.randint(LOWER, UPPER)
        self.previous = None
        self.local_port = None

    async def reply(self):
        line = await asyncio.wait_for(self.reader.readline(), self.timeout)
        if not line:
            raise ConnectionError("the connection was closed (no reply)")
        text = line.decode("ascii", "replace").rstrip("\n")
        if text.startswith("ERROR"):
            raise ConnectionError(f"server said {text!r}")
        guess = int(text)
        if not LOWER <= guess <= UPPER:
            raise ValueError(f"guess {guess} outside [{LOWER}, {UPPER}]")
        return guess

    async def start(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout)
        self.local_port = self.writer.get_extra_info("sockname")[1]
        self.writer.write(f"PARAMS {LOWER} {UPPER}\nNUMBER\n".encode())
        await self.writer.drain()
        self.guess = await self.reply()

    async def start_unfinished(self):
        """Starts the game so that its first guess is wrong: it is in progress for sure."""
        await self.start()
        while self.secret == self.guess:
            self.secret = random.randint(LOWER, UPPER)

    async def finish(self):
        for _ in range(UPPER - LOWER + 1):
            decision, self.previous = decide(self.secret, self.guess, self.previous)
            if decision == "Correct":
                self.writer.write(b"REPORT Correct\nPARAMS 0 -1\n")
                await self.writer.drain()
                return
            self.writer.write(f"REPORT {decision}\nNUMBER\n".encode())
            await self.writer.drain()
            self.guess = await self.reply()
        raise ValueError("no Correct after every value")

    def close(self):
        if hasattr(self, "writer"):
            self.writer.close()


def outcome(error):
    if error is None:
        return "ok", ""
    if isinstance(error, asyncio.TimeoutError):
        return "timeout", "no reply within the client timeout"
    return "error", f"{type(error).__name__}: {error}"


async def games(host, port, count, timeout=10.0):
    async def one():
        game = Game(host, port, timeout)
        try:
            await game.start()
            await game.finish()
            return game.local_port, None
        except Exception as error:  # every failure is reported, none raised
            return game.local_port, error
        finally:
            game.close()

    results = await asyncio.gather(*(one() for _ in range(count)))
    errors = [f"{p}: {outcome(e)[1]}" for p, e in results if e is not None]
    summary = {"games": count, "ok": count - len(errors), "errors": errors[:5],
               "ports": [p for p, _ in results if p is not None]}
    print(json.dumps(summary))
    return 0 if not errors else 1


async def hold(host, port, count, ports_file, go_file, timeout):
    started = [Game(host, port, timeout) for _ in range(count)]
    await asyncio.gather(*(game.start_unfinished() for game in started))
    with open(ports_file + ".tmp", "w") as out:
        json.dump([game.local_port for game in started], out)
    os.rename(ports_file + ".tmp", ports_file)
    deadline = time.monotonic() + 60
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            raise SystemExit("hold: no go signal within 60 s")
        await asyncio.sleep(0.02)
    go = time.monotonic()

    async def finish(game):
        error = None
        try:
            await game.finish()
        except Exception as caught:
            error = caught
        finally:
            game.close()
        kind, detail = outcome(error)
        return {"port": game.local_port, "outcome": kind, "detail": detail,
                "after": round(time.monotonic() - go, 3)}

    print(json.dumps(await asyncio.gather(*(finish(game) for game in started))))
    return 0


def proxied_openings(path):
    """The "Connection opened" entries of one JSON log that came through the balancer (`via`)."""
    with open(path, errors="replace") as log:
        for line in log:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "Connection opened" and "via" in entry:
                yield entry


def opened(paths):
    """Per log: the client ports of proxied connections (those with a `via`)."""
    result = {}
    for path in paths:
        ports, hosts, vias = [], set(), set()
        for entry in proxied_openings(path):
            host, _, client_port = entry["remote"].rpartition(":")
            ports.append(int(client_port))
            hosts.add(host)
            vias.add(entry["via"].rpartition(":")[0])
        result[path] = {"count": len(ports), "ports": ports, "hosts": sorted(hosts),
                        "vias": sorted(vias)}
    print(json.dumps(result))
    return 0


def where(ports_path, paths):
    with open(ports_path) as source:
        data = json.load(source)
    wanted = set(data["ports"] if isinstance(data, dict) else data)
    found = {}
    for path in paths:
        for entry in proxied_openings(path):
            port = int(entry["remote"].rpartition(":")[2])
            # A port may have been used before: the latest connection counts.
            if port in wanted and entry["time"] >= found.get(port, ("", ""))[0]:
                found[port] = (entry["time"], path)
    logs = {path: sorted(p for p, (_, at) in found.items() if at == path) for path in paths}
    print(json.dumps({"logs": logs, "missing": sorted(wanted - set(found))}))
    return 0


def server_state(sock_path, server):
    with socket.socket(socket.AF_UNIX) as admin:
        admin.settimeout(2)
        admin.connect(sock_path)
        admin.sendall(b"show stat\n")
        text = b""
        while chunk := admin.recv(65536):
            text += chunk
    for line in text.decode().splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[1] == server:
            return fields[17].split(" ")[0]
    return None


def wait(sock_path, server, state, seconds):
    start = time.monotonic()
    while True:
        current = server_state(sock_path, server)
        took = time.monotonic() - start
        if current == state:
            print(f"{took:.1f}")
            return 0
        if took > seconds:
            print(f"still {current} after {took:.1f} s")
            return 1
        time.sleep(0.05)


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "games":
        return asyncio.run(games(argv[2], int(argv[3]), int(argv[4])))
    if command == "hold":
        return asyncio.run(hold(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6],
                                float(argv[7])))
    if command == "opened":
        return opened(argv[2:])
    if command == "where":
        return where(argv[2], argv[3:])
    if command == "wait":
        return wait(argv[2], argv[3], argv[4], float(argv[5]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

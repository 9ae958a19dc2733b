"""The seed: Effective Python (2nd ed.), Item 61, the asyncio port of the
number-guessing game, as published, used here as the reference peer.

Only the parts the blog post in shared/seed shows (and the book's
AsyncConnectionBase and AsyncSession it relies on) are kept, with the client's
prints in English as in the book. Two additions for testing, marked NOT SEED:
the command line (which side to run, the port, the games) and the seeding of
`random`, so a run can be replayed.

    python3 interop/seed.py server PORT [SEED]    (PORT 0: any free port, printed)
    python3 interop/seed.py client PORT [LOWER,UPPER,SECRET ...]
"""

import asyncio
import contextlib
import math
import random
import sys

WARMER = 'Warmer'
COLDER = 'Colder'
UNSURE = 'Unsure'
CORRECT = 'Correct'


class UnknownCommandError(Exception):
    pass


class AsyncConnectionBase:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    async def send(self, command):
        line = command + '\n'
        data = line.encode()
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self):
        line = await self.reader.readline()
        if not line:
            raise EOFError('Connection closed')
        return line[:-1].decode()


class AsyncSession(AsyncConnectionBase):
    def __init__(self, *args):
        super().__init__(*args)
        self._clear_values(None, None)

    def _clear_values(self, lower, upper):
        self.lower = lower
        self.upper = upper
        self.secret = None
        self.guesses = []

    async def loop(self):
        while command := await self.receive():
            parts = command.split(' ')
            if parts[0] == 'PARAMS':
                self.set_params(parts)
            elif parts[0] == 'NUMBER':
                await self.send_number()
            elif parts[0] == 'REPORT':
                self.receive_report(parts)
            else:
                raise UnknownCommandError(command)

    def set_params(self, parts):
        assert len(parts) == 3
        lower = int(parts[1])
        upper = int(parts[2])
        self._clear_values(lower, upper)

    def next_guess(self):
        if self.secret is not None:
            return self.secret

        while True:
            guess = random.randint(self.lower, self.upper)
            if guess not in self.guesses:
                return guess

    async def send_number(self):
        guess = self.next_guess()
        self.guesses.append(guess)
        await self.send(format(guess))

    def receive_report(self, parts):
        assert len(parts) == 2
        decision = parts[1]

        last = self.guesses[-1]
        if decision == CORRECT:
            self.secret = last

        print(f'Server: {last} is {decision}', flush=True)


async def handle_async_connection(reader, writer):
    session = AsyncSession(reader, writer)
    try:
        await session.loop()
    except EOFError:
        pass


async def run_async_server(address):
    server = await asyncio.start_server(
        handle_async_connection, *address)
    async with server:
        await server.serve_forever()


class AsyncClient(AsyncConnectionBase):
    def __init__(self, *args):
        super().__init__(*args)
        self._clear_state()

    def _clear_state(self):
        self.secret = None
        self.last_distance = None

    @contextlib.asynccontextmanager
    async def session(self, lower, upper, secret):
        print(f'\nGuess a number between {lower} and {upper}!'
              f' Shhhhh, it\'s {secret}.')
        self.secret = secret
        await self.send(f'PARAMS {lower} {upper}')
        try:
            yield
        finally:
            self._clear_state()
            await self.send('PARAMS 0 -1')

    async def request_numbers(self, count):
        for _ in range(count):
            await self.send('NUMBER')
            data = await self.receive()
            yield int(data)
            if self.last_distance == 0:
                return

    async def report_outcome(self, number):
        new_distance = math.fabs(number - self.secret)
        decision = UNSURE

        if new_distance == 0:
            decision = CORRECT
        elif self.last_distance is None:
            pass
        elif new_distance < self.last_distance:
            decision = WARMER
        elif new_distance > self.last_distance:
            decision = COLDER

        self.last_distance = new_distance

        await self.send(f'REPORT {decision}')
        # Make it so the output printing is in
        # the same order as the threaded version.
        await asyncio.sleep(0.01)
        return decision


async def run_async_client(address, games):
    streams = await asyncio.open_connection(*address)
    client = AsyncClient(*streams)

    results = []
    for lower, upper, secret in games:  # NOT SEED: the seed hard-codes two games
        async with client.session(lower, upper, secret):
            async for number in client.request_numbers(5):
                outcome = await client.report_outcome(number)
                results.append((number, outcome))

    _, writer = streams
    writer.close()
    await writer.wait_closed()

    return results


async def announce_and_serve(address):  # NOT SEED: run_async_server, saying when it listens
    server = await asyncio.start_server(
        handle_async_connection, *address)
    host, port = server.sockets[0].getsockname()[:2]
    print(f'Listening on {host}:{port}', file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main(argv):  # NOT SEED: the command line
    role, port = argv[1], int(argv[2])
    address = ('127.0.0.1', port)
    if role == 'server':
        if len(argv) > 3:
            random.seed(int(argv[3]))
        asyncio.run(announce_and_serve(address))
    elif role == 'client':
        specs = argv[3:] or ['1,5,3', '10,15,12']
        games = [tuple(int(x) for x in spec.split(',')) for spec in specs]
        results = asyncio.run(run_async_client(address, games))
        for number, outcome in results:
            print(f'Client: {number} is {outcome}')
    else:
        raise SystemExit(f'usage: {argv[0]} server PORT [SEED] | client PORT [L,U,S ...]')


if __name__ == '__main__':
    main(sys.argv)

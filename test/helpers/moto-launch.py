# Runs the moto server exactly as .venv/bin/moto_server does (moto.server.main, same arguments), and
# exits as soon as its stdin closes. The test process holds the other end of that pipe, so however it
# ends (stop(), an uncaught error, SIGTERM from the test runner's timeout, even SIGKILL) the kernel
# closes the pipe and the emulator goes with it: no orphaned moto keeps a port or memory.
import os
import sys
import threading

from moto.server import main


def exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
main(sys.argv[1:])

"""Reading ESC/POS back: the printed text, with the commands it uses checked one by one."""

from __future__ import annotations

# Command prefix -> total length in bytes (prefix and arguments).
COMMANDS: dict[bytes, int] = {
    b"\x1b@": 2,  # initialise
    b"\x1bt": 3,  # character table
    b"\x1b!": 3,  # print mode (size)
    b"\x1bE": 3,  # bold
    b"\x1ba": 3,  # align
    b"\x1b-": 3,  # underline
    b"\x1dB": 3,  # reverse (white on black)
    b"\x1bd": 3,  # feed n lines
    b"\x1dV": 3,  # cut
    b"\x1bp": 5,  # drawer kick
}


def commands_and_text(data: bytes, code_page: str = "cp858") -> tuple[list[bytes], str]:
    """Every command sent (in order) and the text printed; an unknown command fails."""
    commands: list[bytes] = []
    text = bytearray()
    i = 0
    while i < len(data):
        byte = data[i : i + 1]
        if byte in (b"\x1b", b"\x1d"):
            prefix = data[i : i + 2]
            if prefix not in COMMANDS:
                raise AssertionError(f"unexpected command {prefix!r} at byte {i}")
            size = COMMANDS[prefix]
            commands.append(data[i : i + size])
            i += size
            continue
        if byte != b"\n" and byte[0] < 0x20:
            raise AssertionError(f"control byte {byte!r} in the text at byte {i}")
        text += byte
        i += 1
    return commands, text.decode(code_page)


def printed_text(data: bytes, code_page: str = "cp858") -> str:
    return commands_and_text(data, code_page)[1]

#!/usr/bin/env python3
"""Prints the token of the confirmation link in the newest mail to an address
in an outbox directory (the `log` transport's `mail.outbox_dir`): what
follows `/confirm#`. The mail's text part is quoted-printable, so a plain
grep would cut the link where its lines are folded.

    scripts/mail-link.py target/demo/mail-outbox alice@example.com
"""
import email
import email.policy
import pathlib
import re
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    outbox, address = pathlib.Path(sys.argv[1]), sys.argv[2]
    for path in sorted(outbox.glob(f"*-{address}.eml"), reverse=True):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text = mail.get_body(preferencelist=("plain",))
        found = text and re.search(r"/confirm#(\S+)", text.get_content())
        if found:
            print(found.group(1))
            return 0
    print(f"no confirmation link to {address} in {outbox}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

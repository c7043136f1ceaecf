#!/usr/bin/env python3
"""A bureau application in Python: submits a message and reads the inbox through a
Bluehelm node's local API (gRPC on its Unix socket).

Generate the stubs first (see README.md), then:

    python3 bureau_client.py --socket /var/lib/bluehelm/ncb.fr/api.sock send ncb.ke "Hello"
    python3 bureau_client.py --socket /var/lib/bluehelm/ncb.ke/api.sock inbox --ack
"""

import argparse
import sys

import grpc

from bluehelm.v1 import api_pb2, api_pb2_grpc, envelope_pb2


def send(stub, to, subject_line, body):
    request = api_pb2.SubmitRequest(
        destination=envelope_pb2.Destination(node=to),
        precedence=envelope_pb2.PRECEDENCE_ROUTINE,
        want_delivery_report=True,
        text=envelope_pb2.TextMessage(subject_line=subject_line, body=body),
    )
    # Returns once the node holds the message durably.
    reply = stub.Submit(request)
    print(reply.message_id)


def inbox(stub, ack, follow):
    request = api_pb2.FollowInboxRequest(after_seq=0, follow=follow)
    for message in stub.FollowInbox(request):
        kind = message.WhichOneof("body")
        line = f"#{message.seq} {kind} from {message.origin} id {message.message_id}"
        if kind == "text":
            line += f": {message.text.subject_line}: {message.text.body}"
        elif kind == "notice":
            line += f": notice {message.notice.notice_ref}"
        elif kind == "delivery_report":
            line += f": {message.correlation_id} delivered to {message.delivery_report.delivered_to}"
        print(line, flush=True)
        if ack:
            # Until acknowledged, the message is offered again on the next FollowInbox.
            stub.Ack(api_pb2.AckRequest(seqs=[message.seq]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="the node's api_socket")
    commands = parser.add_subparsers(dest="command", required=True)
    p_send = commands.add_parser("send", help="send a text message")
    p_send.add_argument("to")
    p_send.add_argument("subject_line")
    p_send.add_argument("--body", default="")
    p_inbox = commands.add_parser("inbox", help="print the inbox")
    p_inbox.add_argument("--ack", action="store_true", help="acknowledge what is printed")
    p_inbox.add_argument("--follow", action="store_true", help="wait for new messages")
    args = parser.parse_args()

    # grpc-python sends the socket path as the HTTP/2 authority by default, which the node's
    # HTTP/2 server rejects as malformed (RST_STREAM PROTOCOL_ERROR): name any host instead.
    options = [("grpc.default_authority", "localhost")]
    with grpc.insecure_channel(f"unix:{args.socket}", options=options) as channel:
        stub = api_pb2_grpc.BureauStub(channel)
        try:
            if args.command == "send":
                send(stub, args.to, args.subject_line, args.body)
            else:
                inbox(stub, args.ack, args.follow)
        except grpc.RpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

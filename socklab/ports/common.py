"""The lecture's table of common ports, corrected: each port, its protocol,
the Python library that speaks it today, and what the lecture got wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommonPort:
    """One row of the lecture's table: a port and what speaks it."""

    port: int
    protocol: str
    name: str
    modules: str
    use: str
    note: str = ""


COMMON_PORTS: tuple[CommonPort, ...] = (
    CommonPort(20, "FTP data", "File Transfer Protocol, data channel", "ftplib",
               "file contents in active mode",
               "the lecture lists 20 for FTP; 20 is only active-mode data, control is 21"),
    CommonPort(21, "FTP", "File Transfer Protocol, control channel", "ftplib, urllib.request",
               "file transfers: commands and replies",
               "passive mode (ftplib's default) opens data connections on ports the server picks"),
    CommonPort(23, "Telnet", "Telnet", "telnetlib (removed in Python 3.13)",
               "remote command lines, unencrypted",
               "telnetlib was deprecated in 3.11 and removed in 3.13; use SSH (port 22)"),
    CommonPort(25, "SMTP", "Simple Mail Transfer Protocol", "smtplib", "sending mail"),
    CommonPort(70, "Gopher", "Gopher", "none today (gopherlib was removed in Python 2.6)",
               "menus of documents, before the Web"),
    CommonPort(80, "HTTP", "Hypertext Transfer Protocol", "http.client, urllib.request",
               "web pages",
               "the lecture's httplib, urllib, xmlrpclib are the Python 2 names "
               "of http.client, urllib.request, xmlrpc.client"),
    CommonPort(110, "POP3", "Post Office Protocol 3", "poplib", "fetching mail"),
    CommonPort(119, "NNTP", "Network News Transfer Protocol",
               "nntplib (removed in Python 3.13)", "Usenet news",
               "the lecture says 'unsent news': NNTP carries Usenet news; "
               "nntplib was removed in 3.13"),
    CommonPort(443, "HTTPS", "HTTP over TLS", "http.client, urllib.request, ssl",
               "web pages, encrypted"),
)

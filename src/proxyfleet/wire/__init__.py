"""Sans-IO protocol codecs (HTTP/1 proxy requests, SOCKS). Standard library only."""

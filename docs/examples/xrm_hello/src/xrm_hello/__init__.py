"""xrm-hello: welcomes visitors and keeps a log of their visits (an xRM plugin)."""

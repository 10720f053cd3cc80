#!/bin/sh
# The demo's sample (tools/demo-analysis submits it): it does what a sample
# does, visibly. It writes a file the task fetches, prints to stdout,
# connects to the host side of the demo's network (10.213.0.1:8080, inside
# the demo's namespace; nothing listens, the SYN is in the capture all the
# same) and exits 3, so the report shows an exit code that is not 0.
echo "written by the nestbox demo sample" >/tmp/nestbox-demo.txt
echo "nestbox demo sample: wrote /tmp/nestbox-demo.txt"
echo "GET / HTTP/1.0" | nc -w 2 10.213.0.1 8080 >/dev/null 2>&1
echo "nestbox demo sample: connected to 10.213.0.1:8080; exiting 3"
exit 3

#!/bin/sh
# Used by resources-and-files.yaml: prints $GREETING, then counts to $1.
echo "$GREETING"
i=1
while [ "$i" -le "${1:-3}" ]; do
  echo "$i"
  i=$((i + 1))
done

"""What the tests and the bench share: the traced server, the browser driver, long audio.

bench/ and tests/ both import from here and never from each other's test modules.
"""

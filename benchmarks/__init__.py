"""Load and browser benchmarks, one module each (``python -m benchmarks.feed``, ``.sync``,
``.live``, ``.photos``, ``.push``, ``.app``, ``.mobile``, ``.fleet``), sharing
``benchmarks.harness``. See benchmarks/README.md."""

from vcsync.cli.main import main

raise SystemExit(main())

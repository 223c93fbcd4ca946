"""The Slack emulator, split by protocol; import it from :mod:`tests.fakes.fake_slack`."""

"""Local fakes of payment providers' HTTP APIs, for tests over a real socket."""

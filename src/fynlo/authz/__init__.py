"""Who may do what: roles, the permission matrix, tenant scoping."""

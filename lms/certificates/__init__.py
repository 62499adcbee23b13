"""Level completion: certificates with public verification and Open Badges 2.0 assertions."""

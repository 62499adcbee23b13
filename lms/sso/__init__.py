"""Single sign-on: an organization's people sign in through its OpenID Connect provider."""

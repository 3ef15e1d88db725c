"""Controllers: QObjects that own the app's behaviour and state, and speak to views through signals and models."""

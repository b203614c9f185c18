"""The statistical spam classifier of the "Spam" check: tokens, the trained model, and its training."""

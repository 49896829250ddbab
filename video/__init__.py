"""Video input: container check, timestamped frame sampling, frame quality and regions."""

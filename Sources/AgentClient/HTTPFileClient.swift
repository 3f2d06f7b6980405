// HTTP FileClient

print("mobile-optimizer")

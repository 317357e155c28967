print("medsync-sandbox")

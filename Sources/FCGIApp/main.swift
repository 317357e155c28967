print("medsync-fcgi")

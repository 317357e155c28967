print("medsync-jobs")

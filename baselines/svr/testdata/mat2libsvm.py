"""Write the libsvm model struct in a MAT file (libsvm's MATLAB interface, e.g. CEIQ's model.mat) as a
libsvm model file, reading it with scipy.io.loadmat: the independent reference for svr.FromMAT.
Usage: mat2libsvm.py MODEL.mat OUT.model (the struct variable must be named 'model')."""
import sys

import scipy.io

m = scipy.io.loadmat(sys.argv[1], mat_dtype=True)["model"][0, 0]
par = m["Parameters"].ravel()
kernels = ["linear", "polynomial", "rbf", "sigmoid"]
svs = m["SVs"].toarray() if hasattr(m["SVs"], "toarray") else m["SVs"]
coef = m["sv_coef"].ravel()
with open(sys.argv[2], "w") as f:
    f.write("svm_type %s\n" % {3: "epsilon_svr", 4: "nu_svr"}[int(par[0])])
    f.write("kernel_type %s\n" % kernels[int(par[1])])
    if int(par[1]) == 1:
        f.write("degree %d\n" % int(par[2]))
    if int(par[1]) != 0:
        f.write("gamma %.17g\n" % par[3])
    if int(par[1]) in (1, 3):
        f.write("coef0 %.17g\n" % par[4])
    f.write("nr_class 2\ntotal_sv %d\nrho %.17g\nSV\n" % (len(coef), m["rho"].ravel()[0]))
    for c, row in zip(coef, svs):
        f.write("%.17g " % c + " ".join("%d:%.17g" % (k + 1, v) for k, v in enumerate(row) if v != 0) + "\n")

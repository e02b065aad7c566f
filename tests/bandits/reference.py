"""Plain numpy references (float64, explicit matrix inverses): obviously right, slow."""

import numpy as np


class LinUCBRef:
    """Li et al. (2010), Algorithm 1, verbatim."""

    def __init__(self, num_arms, dim, alpha, reg=1.0):
        self.A = [reg * np.eye(dim) for _ in range(num_arms)]
        self.b = [np.zeros(dim) for _ in range(num_arms)]
        self.alpha = alpha

    def mean_width(self, x):
        means, widths = [], []
        for A, b in zip(self.A, self.b):
            A_inv = np.linalg.inv(A)
            theta = A_inv @ b
            means.append(theta @ x)
            widths.append(np.sqrt(x @ A_inv @ x))
        return np.array(means), np.array(widths)

    def scores(self, x):
        m, w = self.mean_width(x)
        return m + self.alpha * w

    def update(self, arm, x, r):
        self.A[arm] += np.outer(x, x)
        self.b[arm] += r * x


class LinTSRef(LinUCBRef):
    """Agrawal & Goyal (2013), disjoint arms: theta~_a ~ N(theta_a, v^2 A_a^{-1}), play argmax x . theta~_a.

    Given standard normal draws ``z`` [K], ``x . theta~_a = x . theta_a + v sqrt(x^T A_a^{-1} x) z_a``
    has exactly the law of the projected posterior draw.
    """

    def __init__(self, num_arms, dim, v, reg=1.0):
        super().__init__(num_arms, dim, v, reg)

    def scores(self, x, z):
        m, w = self.mean_width(x)
        return m + self.alpha * w * z

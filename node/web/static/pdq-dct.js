// The 16x64 DCT basis of PDQ as little-endian float32, the values node/hashing/pdq.py computes
// (cosines in double, rounded to float once). Shipped as data rather than computed with Math.cos,
// whose last bit is not the same in every browser: one flipped entry could flip a hash bit.
// tests/web/test_assets.py checks these bytes against the Python hasher's matrix.
export const DCT_BASE64 =
  "/vY0PmOHND5yqDM+tFoyPvaeMD5Mdi4+CuIrPsbjKD5ZfSU+3bAhPqiAHT5R7xg+qP8TPrm0Dj7HEQk+TBoDPu2j+T1Neew9" +
  "1bzePf920D2YsME9vXKyPdXGoj2JtpI9wUuCPT0hYz3kHkE9cKUePUqU9zwERbE81BBVPHEojjtxKI671BBVvARFsbxKlPe8" +
  "cKUeveQeQb09IWO9wUuCvYm2kr3VxqK9vXKyvZiwwb3/dtC91bzevU157L3to/m9TBoDvscRCb65tA6+qP8TvlHvGL6ogB2+" +
  "3bAhvll9Jb7G4yi+CuIrvkx2Lr72njC+tFoyvnKoM75jhzS+/vY0viHNND5hDzM+K5gvPgxwKj65oyM+9UMbPmZlET5hIAY+" +
  "XCHzPYuq1z0FILo9nsqaPS/vcz277y89CX3UPHsdDjx7HQ68CX3UvLvvL70v73O9nsqavQUgur2Lqte9XCHzvWEgBr5mZRG+" +
  "9UMbvrmjI74McCq+K5gvvmEPM74hzTS+Ic00vmEPM74rmC++DHAqvrmjI771Qxu+ZmURvmEgBr5cIfO9i6rXvQUgur2eypq9" +
  "L+9zvbvvL70JfdS8ex0OvHsdDjwJfdQ8u+8vPS/vcz2eypo9BSC6PYuq1z1cIfM9YSAGPmZlET71Qxs+uaMjPgxwKj4rmC8+" +
  "YQ8zPiHNND5jhzQ+9p4wPsbjKD6ogB0+ubQOPu2j+T3/dtA91caiPT0hYz1KlPc8cSiOOwRFsbzkHkG9ibaSvZiwwb1Neey9" +
  "xxEJvlHvGL5ZfSW+THYuvnKoM77+9jS+tFoyvgriK77dsCG+qP8TvkwaA77VvN69vXKyvcFLgr1wpR691BBVvNQQVTxwpR49" +
  "wUuCPb1ysj3VvN49TBoDPqj/Ez7dsCE+CuIrPrRaMj7+9jQ+cqgzPkx2Lj5ZfSU+Ue8YPscRCT5Neew9mLDBPYm2kj3kHkE9" +
  "BEWxPHEojrtKlPe8PSFjvdXGor3/dtC97aP5vbm0Dr6ogB2+xuMovvaeML5jhzS+ziU0PoY5LT4SpR8+Cu4LPsas5T3yqao9" +
  "RTBSPanxjTyp8Y28RTBSvfKpqr3GrOW9Cu4LvhKlH76GOS2+ziU0vs4lNL6GOS2+EqUfvgruC77GrOW98qmqvUUwUr2p8Y28" +
  "qfGNPEUwUj3yqao9xqzlPQruCz4SpR8+hjktPs4lND7OJTQ+hjktPhKlHz4K7gs+xqzlPfKpqj1FMFI9qfGNPKnxjbxFMFK9" +
  "8qmqvcas5b0K7gu+EqUfvoY5Lb7OJTS+ziU0voY5Lb4SpR++Cu4Lvsas5b3yqaq9RTBSvanxjbyp8Y08RTBSPfKpqj3GrOU9" +
  "Cu4LPhKlHz6GOS0+ziU0PnKoMz7G4yg+qP8TPk157D3VxqI9cKUePXEojrvkHkG9vXKyve2j+b1R7xi+CuIrvmOHNL60WjK+" +
  "WX0lvrm0Dr7VvN69ibaSvUqU97zUEFU8PSFjPZiwwT1MGgM+qIAdPkx2Lj7+9jQ+9p4wPt2wIT7HEQk+/3bQPcFLgj0ERbE8" +
  "BEWxvMFLgr3/dtC9xxEJvt2wIb72njC+/vY0vkx2Lr6ogB2+TBoDvpiwwb09IWO91BBVvEqU9zyJtpI91bzePbm0Dj5ZfSU+" +
  "tFoyPmOHND4K4is+Ue8YPu2j+T29crI95B5BPXEojjtwpR691caivU157L2o/xO+xuMovnKoM75hDzM+uaMjPmEgBj4FILo9" +
  "u+8vPXsdDrwv73O9i6rXvWZlEb4McCq+Ic00viuYL771Qxu+XCHzvZ7Kmr0JfdS8CX3UPJ7Kmj1cIfM99UMbPiuYLz4hzTQ+" +
  "DHAqPmZlET6Lqtc9L+9zPXsdDjy77y+9BSC6vWEgBr65oyO+YQ8zvmEPM765oyO+YSAGvgUgur277y+9ex0OPC/vcz2Lqtc9" +
  "ZmURPgxwKj4hzTQ+K5gvPvVDGz5cIfM9nsqaPQl91DwJfdS8nsqavVwh8731Qxu+K5gvviHNNL4McCq+ZmURvouq170v73O9" +
  "ex0OvLvvLz0FILo9YSAGPrmjIz5hDzM+tFoyPqiAHT5Neew9wUuCPXEojjs9IWO91bzevVHvGL72njC+cqgzvt2wIb7to/m9" +
  "ibaSvdQQVbzkHkE9/3bQPaj/Ez5Mdi4+Y4c0Pll9JT5MGgM+1caiPQRFsTxwpR69mLDBvbm0Dr4K4iu+/vY0vsbjKL7HEQm+" +
  "vXKyvUqU97xKlPc8vXKyPccRCT7G4yg+/vY0PgriKz65tA4+mLDBPXClHj0ERbG81caivUwaA75ZfSW+Y4c0vkx2Lr6o/xO+" +
  "/3bQveQeQb3UEFU8ibaSPe2j+T3dsCE+cqgzPvaeMD5R7xg+1bzePT0hYz1xKI67wUuCvU157L2ogB2+tFoyvoWKMT4XgxY+" +
  "TiPJPa9CDT2vQg29TiPJvReDFr6FijG+hYoxvheDFr5OI8m9r0INva9CDT1OI8k9F4MWPoWKMT6FijE+F4MWPk4jyT2vQg09" +
  "r0INvU4jyb0Xgxa+hYoxvoWKMb4Xgxa+TiPJva9CDb2vQg09TiPJPReDFj6FijE+hYoxPheDFj5OI8k9r0INPa9CDb1OI8m9" +
  "F4MWvoWKMb6FijG+F4MWvk4jyb2vQg29r0INPU4jyT0XgxY+hYoxPoWKMT4XgxY+TiPJPa9CDT2vQg29TiPJvReDFr6FijG+" +
  "hYoxvheDFr5OI8m9r0INva9CDT1OI8k9F4MWPoWKMT72njA+ubQOPtXGoj1xKI47ibaSvccRCb5Mdi6+tFoyvqj/E769crK9" +
  "1BBVvMFLgj1MGgM+CuIrPnKoMz5R7xg+mLDBPQRFsTw9IWO97aP5vcbjKL5jhzS+qIAdvv920L1KlPe85B5BPU157D1ZfSU+" +
  "/vY0Pt2wIT7VvN49cKUePXClHr3VvN693bAhvv72NL5ZfSW+TXnsveQeQb1KlPc8/3bQPaiAHT5jhzQ+xuMoPu2j+T09IWM9" +
  "BEWxvJiwwb1R7xi+cqgzvgriK75MGgO+wUuCvdQQVTy9crI9qP8TPrRaMj5Mdi4+xxEJPom2kj1xKI671caivbm0Dr72njC+" +
  "K5gvPmEgBj4v73M9CX3UvIuq1725oyO+Ic00vvVDG74FILq9ex0OvJ7Kmj1mZRE+YQ8zPgxwKj5cIfM9u+8vPbvvL71cIfO9" +
  "DHAqvmEPM75mZRG+nsqavXsdDjwFILo99UMbPiHNND65oyM+i6rXPQl91Dwv73O9YSAGviuYL74rmC++YSAGvi/vc70JfdQ8" +
  "i6rXPbmjIz4hzTQ+9UMbPgUguj17HQ48nsqavWZlEb5hDzO+DHAqvlwh87277y+9u+8vPVwh8z0McCo+YQ8zPmZlET6eypo9" +
  "ex0OvAUgur31Qxu+Ic00vrmjI76Lqte9CX3UvC/vcz1hIAY+K5gvPkx2Lj7to/k9cKUePT0hY73HEQm+tFoyvsbjKL7VvN69" +
  "BEWxvIm2kj2o/xM+Y4c0Pt2wIT6YsME9cSiOO71ysr2ogB2+/vY0vlHvGL7VxqK91BBVPP920D1ZfSU+cqgzPrm0Dj7BS4I9" +
  "SpT3vE157L0K4iu+9p4wvkwaA77kHkG95B5BPUwaAz72njA+CuIrPk157D1KlPc8wUuCvbm0Dr5yqDO+WX0lvv920L3UEFW8" +
  "1caiPVHvGD7+9jQ+qIAdPr1ysj1xKI67mLDBvd2wIb5jhzS+qP8Tvom2kr0ERbE81bzePcbjKD60WjI+xxEJPj0hYz1wpR69" +
  "7aP5vUx2Lr6GOS0+xqzlPanxjTzyqaq9EqUfvs4lNL4K7gu+RTBSvUUwUj0K7gs+ziU0PhKlHz7yqao9qfGNvMas5b2GOS2+" +
  "hjktvsas5b2p8Y288qmqPRKlHz7OJTQ+Cu4LPkUwUj1FMFK9Cu4Lvs4lNL4SpR++8qmqvanxjTzGrOU9hjktPoY5LT7GrOU9" +
  "qfGNPPKpqr0SpR++ziU0vgruC75FMFK9RTBSPQruCz7OJTQ+EqUfPvKpqj2p8Y28xqzlvYY5Lb6GOS2+xqzlvanxjbzyqao9" +
  "EqUfPs4lND4K7gs+RTBSPUUwUr0K7gu+ziU0vhKlH77yqaq9qfGNPMas5T2GOS0+CuIrPv920D1xKI671bzevUx2Lr7G4yi+" +
  "mLDBvdQQVTxNeew99p4wPll9JT69crI9BEWxvO2j+b20WjK+3bAhvtXGor1KlPc8TBoDPnKoMz6ogB0+ibaSPXClHr3HEQm+" +
  "Y4c0vlHvGL7BS4K95B5BPbm0Dj7+9jQ+qP8TPj0hYz09IWO9qP8Tvv72NL65tA6+5B5BvcFLgj1R7xg+Y4c0PscRCT5wpR49" +
  "ibaSvaiAHb5yqDO+TBoDvkqU97zVxqI93bAhPrRaMj7to/k9BEWxPL1ysr1ZfSW+9p4wvk157L3UEFW8mLDBPcbjKD5Mdi4+" +
  "1bzePXEojjv/dtC9CuIrvgxwKj4FILo9CX3UvGEgBr4hzTS+ZmURvrvvL72eypo9uaMjPiuYLz6Lqtc9ex0OvFwh871hDzO+" +
  "9UMbvi/vc70v73M99UMbPmEPMz5cIfM9ex0OPIuq170rmC++uaMjvp7Kmr277y89ZmURPiHNND5hIAY+CX3UPAUgur0McCq+" +
  "DHAqvgUgur0JfdQ8YSAGPiHNND5mZRE+u+8vPZ7Kmr25oyO+K5gvvouq1717HQ48XCHzPWEPMz71Qxs+L+9zPS/vc731Qxu+" +
  "YQ8zvlwh8717HQ68i6rXPSuYLz65oyM+nsqaPbvvL71mZRG+Ic00vmEgBr4JfdS8BSC6PQxwKj7G4yg+1caiPeQeQb1R7xi+" +
  "tFoyvtW83r3UEFU8TBoDPv72ND7HEQk+BEWxPP920L32njC+qIAdvj0hY72JtpI9WX0lPgriKz69crI9cKUevaj/E75yqDO+" +
  "TXnsvXEojjvto/k9Y4c0Prm0Dj5KlPc8mLDBvUx2Lr7dsCG+wUuCvcFLgj3dsCE+THYuPpiwwT1KlPe8ubQOvmOHNL7to/m9" +
  "cSiOu0157D1yqDM+qP8TPnClHj29crK9CuIrvll9Jb6JtpK9PSFjPaiAHT72njA+/3bQPQRFsbzHEQm+/vY0vkwaA77UEFW8" +
  "1bzePbRaMj5R7xg+5B5BPdXGor3G4yi+dD0nPtSLij3Ui4q9dD0nvnQ9J77Ui4q91IuKPXQ9Jz50PSc+1IuKPdSLir10PSe+" +
  "dD0nvtSLir3Ui4o9dD0nPnQ9Jz7Ui4o91IuKvXQ9J750PSe+1IuKvdSLij10PSc+dD0nPtSLij3Ui4q9dD0nvnQ9J77Ui4q9" +
  "1IuKPXQ9Jz50PSc+1IuKPdSLir10PSe+dD0nvtSLir3Ui4o9dD0nPnQ9Jz7Ui4o91IuKvXQ9J750PSe+1IuKvdSLij10PSc+" +
  "dD0nPtSLij3Ui4q9dD0nvnQ9J77Ui4q91IuKPXQ9Jz50PSc+1IuKPdSLir10PSe+dD0nvtSLir3Ui4o9dD0nPg==";

# The measurement behind windowlevel.ts's structure window: grey-level contrast of grey vs white matter and of the
# cord vs the 3 voxels around it under four windows, on real cord MRI. Run from /work/shared/data:
#   /usr/bin/python3 /path/to/web/test/tools-window-contrast.py
import nibabel as nib, numpy as np, scipy.ndimage as ndi
def L(p): return np.asarray(nib.as_closest_canonical(nib.load(p)).dataobj).astype(float)
cases=[('gm-challenge','gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz','gm-challenge-data/derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_seg-manual.nii.gz','gm-challenge-data/derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz'),
('t2s','sct_testing_data/t2s/t2s.nii.gz','sct_testing_data/t2s/t2s_seg.nii.gz','sct_testing_data/t2s/t2s_gmseg_manual.nii.gz'),
('t2s_uncropped','sct_testing_data/t2s/t2s_uncropped.nii.gz',None,'sct_testing_data/t2s/t2s_uncropped_gmseg_manual.nii.gz')]
def grey(v,lo,hi): return np.clip((v-lo)/(hi-lo)*255,0,255)
for name,ip,cp,gp in cases:
  img=L(ip); gm=L(gp)>=0.5
  cord=L(cp)>=0.5 if cp else None
  p1,p99=np.percentile(img,[1,99])
  res={}
  for z in range(img.shape[2]):
    g=gm[:,:,z]
    if g.sum()<5: continue
    c=cord[:,:,z] if cord is not None else ndi.binary_dilation(g,iterations=4)
    if cord is not None and c.sum()<5: continue
    wm=c&~g; s=img[:,:,z]
    ring=ndi.binary_dilation(c,iterations=3)&~c
    xs,ys=np.nonzero(c)
    wins={'volume p1-p99':(p1,p99)}
    for m in [10]:
      box=s[max(0,xs.min()-m):xs.max()+m+1, max(0,ys.min()-m):ys.max()+m+1]
      wins['roi+10 p1-p99']=tuple(np.percentile(box,[1,99]))
    lo,hi=np.percentile(s[c],[1,99]); wins['inside p1-p99']=(lo,hi)
    wins['inside p1-p99 +25%']=(lo-(hi-lo)*.25,hi+(hi-lo)*.25)
    for k,(lo,hi) in wins.items():
      d=grey(s[g].mean(),lo,hi)-grey(s[wm].mean(),lo,hi)
      e=abs(grey(s[ring].mean(),lo,hi)-grey(s[c].mean(),lo,hi))
      res.setdefault(k,[]).append((d,e))
  for k,v in res.items():
    a=np.array(v); print(f"{name:14s} {k:20s} slices {len(a):3d}  GM-WM grey {a[:,0].mean():6.1f}  cord-vs-ring grey {a[:,1].mean():6.1f}")

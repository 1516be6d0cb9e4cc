% gen_features.m: makes features.json, the reference for baselines/niqe.
%
% Runs the authors' NIQE release (utlive/niqe at d80aead2: computefeature.m,
% estimateaggdparam.m, computemean.m, computequality.m) in Octave 7.3 with
% octave-image 2.14 (Debian 12). The release is not in this repository: check
% it out elsewhere and run, from this folder,
%
%   NIQE_SRC=/path/to/niqe CALIBRA=../../../../shared/data/calibra \
%     octave --no-gui -q gen_features.m
%
% Octave lacks blkproc, nanmean and nancov; the shims below stand in for them
% (non-overlapping blocks tiled as MATLAB tiles them; the NaN-free case). The
% per-block features are gathered exactly as computequality.m gathers them,
% and the script checks that its quality equals computequality's own.
1;
function out = blkproc(a, bs, ov, fun)
  nr = size(a,1)/bs(1); nc = size(a,2)/bs(2); out = [];
  for j = 1:nc
    colv = [];
    for i = 1:nr
      colv = [colv; fun(a((i-1)*bs(1)+1:i*bs(1), (j-1)*bs(2)+1:j*bs(2)))];
    end
    out = [out colv];
  end
end
function m = nanmean(x)
  assert(~any(isnan(x(:)))); m = mean(x);
end
function c = nancov(x)
  assert(~any(isnan(x(:)))); c = cov(x);
end
function [feat, sharp] = blockfeatures(im)
  % computequality.m's feature loop, verbatim in behaviour.
  im = double(rgb2gray(im));
  [r, c] = size(im);
  im = im(1:floor(r/96)*96, 1:floor(c/96)*96);
  w = fspecial('gaussian', 7, 7/6); w = w/sum(sum(w));
  feat = [];
  for s = 1:2
    mu = imfilter(im, w, 'replicate');
    sigma = sqrt(abs(imfilter(im.*im, w, 'replicate') - mu.*mu));
    sd = (im-mu)./(sigma+1);
    fs = blkproc(sd, [96/s 96/s], [0 0], @computefeature);
    fs = reshape(fs, [18 numel(fs)/18])';
    if s == 1
      sharp = blkproc(sigma, [96 96], [0 0], @computemean); sharp = sharp(:);
    end
    feat = [feat fs];
    im = imresize(im, 0.5);
  end
end

pkg load image
addpath(getenv('NIQE_SRC'));
calibra = getenv('CALIBRA');
load(fullfile(getenv('NIQE_SRC'), 'modelparameters.mat'));
names = {'I03','I04','I06','I08','I19','G0','G1','G2','G3','G4','G5'};
out = struct();
pris = [];
for i = 1:numel(names)
  im = imread(fullfile(calibra, [names{i} '.png']));
  [feat, sharp] = blockfeatures(im);
  mu = nanmean(feat); cv = nancov(feat);
  q = sqrt((mu_prisparam-mu)*pinv((cov_prisparam+cv)/2)*(mu_prisparam-mu)');
  q0 = computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam);
  assert(abs(q-q0) <= 1e-12*q0);
  out.images.(names{i}) = struct('rows', size(feat,1), 'features', feat, ...
      'sharpness', sharp', 'mu', mu, 'quality', q0);
  % estimatemodelparam.m's selection with sh_th = 0.75, image by image
  pris = [pris; feat(find(sharp(:) > 0.75*max(sharp(:))), :)];
end
out.fit = struct('images', {names}, 'threshold', 0.75, 'rows', size(pris,1), ...
    'mu', nanmean(pris), 'cov', nancov(pris)(:)');
out.how = ['gen_features.m: utlive/niqe d80aead2 in Octave ' version() ...
    ' (features[b][k]: block b, feature k, blocks in column-major order as computequality.m orders them; fit.cov column-major)'];
fid = fopen('features.json', 'w'); fputs(fid, jsonencode(out, 'PrettyPrint', false)); fclose(fid);
